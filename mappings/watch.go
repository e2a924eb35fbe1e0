package mappings

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// Watch polls the mapping folder dir every interval and reloads it when the
// content of its mapping files changes (a hash of their names and bytes,
// so a touched but unchanged file, or an editor's temporary file, does not
// reload). A change is loaded once it has held still for one interval, so
// that a file caught half-written is not loaded. The folder is loaded once
// at start as well. Each valid load is handed to onLoad; an invalid one
// goes to onError (a Diagnostics with every problem) and onLoad is not
// called, so the caller keeps the mappings it has. A folder that cannot be
// read is reported to onError too. The same content is reported once, not
// on every poll. Watch blocks until ctx ends; the callbacks run on its
// goroutine, one at a time.
func Watch(ctx context.Context, dir string, interval time.Duration, opts Options, onLoad func(*core.Mappings), onError func(error)) {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	opts = dirOptions(dir, opts)
	var last, pending string
	poll := func(settle bool) {
		sum, err := contentHash(os.DirFS(dir))
		if err != nil {
			sum = "error: " + err.Error()
		}
		if sum == last {
			pending = ""
			return
		}
		if settle && sum != pending {
			pending = sum // look again next time
			return
		}
		last, pending = sum, ""
		if err != nil {
			onError(fmt.Errorf("mappings folder %s: %w", dir, err))
			return
		}
		m, err := Load(os.DirFS(dir), opts)
		if err != nil {
			onError(err)
			return
		}
		onLoad(m)
	}
	poll(false)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			poll(true)
		}
	}
}

// contentHash digests the names and contents of the mapping files of fsys.
func contentHash(fsys fs.FS) (string, error) {
	names, err := mappingFiles(fsys)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", err
	}
	h := sha256.New()
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
