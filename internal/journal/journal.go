// Package journal is the intake journal: a small append-only log on the
// store's own disk that lets a webhook be acknowledged as soon as its
// events are on disk, before the store has taken them in.
//
// The store's write path is shared with reconciliation and has stalls of
// its own (a checkpoint, a log restart, a long statement), and every
// webhook would wait for them. An append and an fsync here wait only for
// the disk. The engine then moves each record into the store behind the
// acknowledgement and tells the journal, which deletes a segment once all
// of its records are in the store. Records that were never applied (the
// process was killed, or the store refused them for a while) are read
// back by Open and applied again; the store's inbox de-duplicates those
// that had made it.
//
// It is meant for a store on the same disk (SQLite). Replicas sharing
// PostgreSQL have no journal: a replica's own disk may go with it.
package journal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

var (
	// ErrClosed is returned by Append once the journal is closed.
	ErrClosed = errors.New("journal: closed")
	// ErrInUse is returned by Open while another process has the journal.
	ErrInUse = errors.New("journal: in use by another process")
)

// Options tune a journal.
type Options struct {
	// SegmentBytes is the size past which appends start a new segment
	// file (default 8 MiB). A segment is deleted once every record in it
	// is applied, so smaller segments give disk back sooner.
	SegmentBytes int64
	// MaxPending bounds the records appended and not yet applied (default
	// 2048): past it Append waits, so that a store that falls behind slows
	// the acknowledgements instead of growing the journal without bound.
	MaxPending int
	Log        *slog.Logger
}

// Record is one appended record. Seq numbers records in append order,
// in this process only: they are not stored.
type Record struct {
	Seq  uint64
	Data []byte
}

// Journal is an open intake journal. Append and Applied may be called
// from any goroutine.
type Journal struct {
	dir  string
	o    Options
	lock *os.File // holds the folder's lock until Close
	reqs chan *appendReq
	// slots holds a token per record appended by this process and not
	// yet applied (MaxPending).
	slots chan struct{}
	// sendMu is held for reading while an Append hands its record to the
	// writer, and for writing by Close, which closes reqs: once it has it,
	// nothing more is handed over.
	sendMu sync.RWMutex
	closed bool
	// exited is closed when the writer has written what it was handed.
	exited chan struct{}
	// replayed is the last Seq of the records Open read back; they hold
	// no slot.
	replayed uint64
	// failure is a failed write or sync: nothing appended since is
	// durable. Only the writer goroutine uses it.
	failure error
	// syncFile is (*os.File).Sync; tests replace it.
	syncFile func(*os.File) error

	mu       sync.Mutex // guards the fields below
	segments []*segment // oldest first; the last is being written
	nextSeq  uint64
	nextNum  uint64
}

// segment is one file of the journal and the records in it.
type segment struct {
	num         uint64
	path        string
	f           *os.File // nil unless it is being written
	size        int64
	first, last uint64 // Seq range; last < first while empty
	pending     int    // records not yet applied
}

type appendReq struct {
	data []byte
	seq  uint64
	err  error
	done chan struct{}
}

// frameHeader is a record's length and CRC-32C, before its bytes.
const frameHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Open opens the journal in dir, creating the folder if need be, and
// returns the records of every segment that earlier processes left with
// records not applied, in append order. The caller applies them like new
// ones (calling Applied with their Seq). Which records of a segment were
// applied is not kept, so some of those returned may be in the store
// already: the store must take a record twice as once. A record cut
// short by a crash ends its segment: it was never acknowledged, since its
// sync never returned.
func Open(dir string, o Options) (*Journal, []Record, error) {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 8 << 20
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 2048
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("journal: create %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, nil, err
	}
	j, left, err := load(dir, o)
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	j.lock = lock
	go j.writeLoop()
	return j, left, nil
}

// lockDir takes the folder's lock: two processes appending to one journal
// would each apply and delete the other's records.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrInUse, dir)
		}
		return nil, fmt.Errorf("journal: lock %s: %w", dir, err)
	}
	return f, nil
}

func load(dir string, o Options) (*Journal, []Record, error) {
	j := &Journal{dir: dir, o: o, reqs: make(chan *appendReq, 256), slots: make(chan struct{}, o.MaxPending),
		exited: make(chan struct{}), nextSeq: 1, nextNum: 1, syncFile: (*os.File).Sync}
	var left []Record
	nums, err := segmentNumbers(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, num := range nums {
		seg := &segment{num: num, path: j.segmentPath(num), first: j.nextSeq}
		recs, cut, err := readSegment(seg.path)
		if err != nil {
			return nil, nil, err
		}
		if cut > 0 {
			o.Log.Warn("journal: a segment ends in a record cut short (a crash before its sync; it was never acknowledged)",
				"segment", seg.path, "bytes", cut)
		}
		for _, data := range recs {
			left = append(left, Record{Seq: j.nextSeq, Data: data})
			j.nextSeq++
		}
		seg.last, seg.pending = j.nextSeq-1, len(recs)
		j.nextNum = num + 1
		if seg.pending == 0 {
			if err := os.Remove(seg.path); err != nil {
				return nil, nil, fmt.Errorf("journal: remove applied segment: %w", err)
			}
			continue
		}
		j.segments = append(j.segments, seg)
	}
	j.replayed = j.nextSeq - 1
	if err := j.startSegment(); err != nil {
		return nil, nil, err
	}
	return j, left, nil
}

func (j *Journal) segmentPath(num uint64) string {
	return filepath.Join(j.dir, fmt.Sprintf("%016d.journal", num))
}

func segmentNumbers(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: read %s: %w", dir, err)
	}
	var nums []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".journal")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("journal: %s: a segment file whose name is not its number", filepath.Join(dir, e.Name()))
		}
		nums = append(nums, n)
	}
	slices.Sort(nums)
	return nums, nil
}

// readSegment reads a segment's whole records and how many bytes follow
// the last of them.
func readSegment(path string) ([][]byte, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("journal: read segment: %w", err)
	}
	recs, rest := Decode(b)
	return recs, len(rest), nil
}

// Decode splits b into whole records, and returns the bytes after the
// last one that was whole and intact (a torn or garbled tail).
func Decode(b []byte) (recs [][]byte, rest []byte) {
	for len(b) >= frameHeader {
		n := binary.LittleEndian.Uint32(b)
		sum := binary.LittleEndian.Uint32(b[4:])
		// A record is never empty (Append refuses it): zeros are space the
		// file system gave a write that never landed, not records.
		if n == 0 || uint64(n) > uint64(len(b)-frameHeader) {
			break
		}
		data := b[frameHeader : frameHeader+int(n)]
		if crc32.Checksum(data, castagnoli) != sum {
			break
		}
		recs = append(recs, data)
		b = b[frameHeader+int(n):]
	}
	return recs, b
}

// appendFrame appends data's frame to buf.
func appendFrame(buf, data []byte) []byte {
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(data)))
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(data, castagnoli))
	return append(buf, data...)
}

// startSegment creates the next segment file and makes its name durable.
// The caller holds mu or is Open.
func (j *Journal) startSegment() error {
	seg := &segment{num: j.nextNum, path: j.segmentPath(j.nextNum), first: j.nextSeq, last: j.nextSeq - 1}
	f, err := os.OpenFile(seg.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("journal: create segment: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		os.Remove(seg.path)
		return err
	}
	j.nextNum++
	seg.f = f
	j.segments = append(j.segments, seg)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: sync %s: %w", dir, err)
	}
	return nil
}

// Append writes data as one record and returns its Seq once it is on
// disk. It waits while MaxPending records are unapplied; ctx bounds that
// wait and the wait for the writer, after which the record is not
// written. Once written, Append waits for its sync whatever ctx says: the
// record will be applied, and the caller may as well say so.
func (j *Journal) Append(ctx context.Context, data []byte) (uint64, error) {
	if len(data) == 0 || uint64(len(data)) > 1<<31 {
		return 0, fmt.Errorf("journal: a record of %d bytes cannot be appended", len(data))
	}
	select {
	case j.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, fmt.Errorf("journal: waiting for the store to catch up: %w", ctx.Err())
	}
	r := &appendReq{data: data, done: make(chan struct{})}
	if err := j.handOver(ctx, r); err != nil {
		<-j.slots
		return 0, err
	}
	<-r.done
	if r.err != nil {
		<-j.slots
	}
	return r.seq, r.err
}

func (j *Journal) handOver(ctx context.Context, r *appendReq) error {
	j.sendMu.RLock()
	defer j.sendMu.RUnlock()
	if j.closed {
		return ErrClosed
	}
	select {
	case j.reqs <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeLoop writes every append waiting in one write and one sync (group
// commit), until Close.
func (j *Journal) writeLoop() {
	defer close(j.exited)
	var buf []byte
	for r := range j.reqs {
		batch := []*appendReq{r}
	collect:
		for {
			select {
			case r, ok := <-j.reqs:
				if !ok {
					break collect
				}
				batch = append(batch, r)
			default:
				break collect
			}
		}
		buf = buf[:0]
		for _, r := range batch {
			buf = appendFrame(buf, r.data)
		}
		err := j.write(buf, batch)
		for _, r := range batch {
			r.err = err
			close(r.done)
		}
	}
}

// write appends the frames of batch, syncs them, and numbers the records.
func (j *Journal) write(buf []byte, batch []*appendReq) error {
	if j.failure != nil {
		return j.failure
	}
	// Only this goroutine writes, and only it changes which segment is
	// written: mu is not held for the write and the sync, so that Applied
	// never waits for the disk.
	j.mu.Lock()
	seg := j.segments[len(j.segments)-1]
	j.mu.Unlock()
	_, err := seg.f.Write(buf)
	if err == nil {
		err = j.syncFile(seg.f)
	}
	if err != nil {
		// What the failed write or sync left on disk is unknown, and a
		// later sync could report success for pages it lost: no append
		// succeeds from now on (the records applied so far are safe).
		j.failure = fmt.Errorf("journal: append to %s (no webhook can be acknowledged from now on; restart once the disk is healthy): %w", seg.path, err)
		return j.failure
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, r := range batch {
		r.seq = j.nextSeq
		j.nextSeq++
	}
	seg.size += int64(len(buf))
	seg.last = j.nextSeq - 1
	seg.pending += len(batch)
	if seg.size >= j.o.SegmentBytes {
		if err := j.seal(seg); err != nil {
			j.o.Log.Error("journal: could not start a new segment; appending to the old one", "err", err)
		}
	}
	return nil
}

// seal closes the segment being written and starts the next one; a
// segment already applied goes at once. The caller holds mu.
func (j *Journal) seal(seg *segment) error {
	if err := j.startSegment(); err != nil {
		return err
	}
	return j.closeSegment(seg)
}

// closeSegment closes a segment's file, and deletes the segment if all of
// it is applied. The caller holds mu.
func (j *Journal) closeSegment(seg *segment) error {
	err := seg.f.Close()
	seg.f = nil
	if seg.pending == 0 {
		j.remove(seg)
	}
	return err
}

// Applied records that the record numbered seq is in the store: its
// segment is deleted once every record in it is, unless appends still go
// there.
func (j *Journal) Applied(seq uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	i := sort.Search(len(j.segments), func(i int) bool { return j.segments[i].last >= seq })
	if i == len(j.segments) || seq < j.segments[i].first {
		j.o.Log.Error("journal: a record applied that the journal does not hold", "seq", seq)
		return
	}
	seg := j.segments[i]
	seg.pending--
	if seq > j.replayed {
		<-j.slots
	}
	if seg.pending == 0 && seg.f == nil {
		j.remove(seg)
	}
}

// remove deletes an applied, sealed segment. The caller holds mu. A
// failure costs disk space only: Open would apply its records again, and
// the store de-duplicates them.
func (j *Journal) remove(seg *segment) {
	j.segments = slices.DeleteFunc(j.segments, func(s *segment) bool { return s == seg })
	if err := os.Remove(seg.path); err != nil {
		j.o.Log.Warn("journal: could not remove an applied segment", "segment", seg.path, "err", err)
	}
}

// Pending returns how many records are appended and not yet applied.
func (j *Journal) Pending() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for _, s := range j.segments {
		n += s.pending
	}
	return n
}

// Close stops appending, once the appends handed over are written, and
// closes the segment being written. Records not yet applied stay on disk
// for the next Open; the segment being written goes if everything in it
// was applied.
func (j *Journal) Close() error {
	j.sendMu.Lock()
	if j.closed {
		j.sendMu.Unlock()
		return nil
	}
	j.closed = true
	close(j.reqs)
	j.sendMu.Unlock()
	<-j.exited
	j.mu.Lock()
	defer j.mu.Unlock()
	// The last segment is always the one being written (seal starts the
	// next before it closes one).
	err := j.closeSegment(j.segments[len(j.segments)-1])
	return errors.Join(err, j.lock.Close())
}
