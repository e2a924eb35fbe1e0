package mail

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestDumpCorpus(t *testing.T) {
	if os.Getenv("DUMP") == "" {
		t.Skip()
	}
	files, _ := filepath.Glob("../testdata/email/*.eml")
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		m, err := Parse(raw)
		fmt.Printf("=== %s\n", filepath.Base(f))
		if err != nil {
			fmt.Println("  ERR", err)
			continue
		}
		fmt.Printf("  id=%s irt=%v refs=%v\n  from=%v subj=%q auto=%q (%s) suppress=%v reply=%v\n", m.MessageID, m.InReplyTo, m.References, m.From, m.Subject, m.Auto, m.AutoReason, m.SuppressAutoReply, m.IsReply())
		if m.Bounce != nil {
			fmt.Printf("  bounce orig=%q delayed=%v rcpts=%v\n", m.Bounce.OriginalMessageID, m.Bounce.Delayed, m.Bounce.Recipients)
		}
		r := m.Reply
		if len(r) > 240 {
			r = r[:240]
		}
		fmt.Printf("  REPLY: %q\n", r)
		for _, a := range m.Attachments {
			fmt.Printf("  att %q %s %d inline=%v over=%v\n", a.Name, a.ContentType, a.Size, a.Inline, a.Over)
		}
		if len(m.Warnings) > 0 {
			fmt.Printf("  warn %v\n", m.Warnings)
		}
	}
}
