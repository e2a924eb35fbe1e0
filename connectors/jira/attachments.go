package jira

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/liaisonhq/liaison/core"
)

// UseBlobs implements core.BlobUser: the content of files named by hash.
func (c *Connector) UseBlobs(b core.Blobs) { c.blobs = b }

// carried splits files into those an issue can carry (within
// attachment_limit, and with content to have) and those it cannot, which
// its text names instead. It opens each file to know, and closes it.
func (c *Connector) carried(ctx context.Context, files []core.Attachment) (carry, over []core.Attachment, err error) {
	for _, f := range files {
		if f.Over || f.Size > c.cfg.AttachmentLimit {
			over = append(over, f)
			continue
		}
		r, err := core.OpenAttachment(ctx, c.blobs, f)
		if err != nil {
			return nil, nil, core.RetryAfter(err, 0)
		}
		if r == nil {
			over = append(over, f)
			continue
		}
		r.Close()
		carry = append(carry, f)
	}
	return carry, over, nil
}

// attach uploads files to an issue (POST /issue/{key}/attachments, one
// request per file, with the X-Atlassian-Token: no-check header that Jira's
// XSRF check asks of multipart posts). A file is read into the request
// whole, at most attachment_limit bytes: the retrying client replays a
// request body, so it cannot stream one.
func (c *Connector) attach(ctx context.Context, key string, files []core.Attachment) error {
	for _, f := range files {
		if err := c.upload(ctx, key, f); err != nil {
			return fmt.Errorf("attach %q to %s: %w", f.Name, key, err)
		}
	}
	return nil
}

func (c *Connector) upload(ctx context.Context, key string, f core.Attachment) error {
	r, err := core.OpenAttachment(ctx, c.blobs, f)
	if err != nil {
		return core.RetryAfter(err, 0)
	}
	if r == nil {
		return core.Permanent(fmt.Errorf("the content of %q is no longer kept", f.Name))
	}
	defer r.Close()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	name := strings.NewReplacer(`"`, "'", "\r", "", "\n", "").Replace(f.Name)
	if name == "" {
		name = "attachment"
	}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, name))
	ct := f.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	pw, err := mw.CreatePart(h)
	if err != nil {
		return core.Permanent(err)
	}
	if _, err := io.Copy(pw, io.LimitReader(r, c.cfg.AttachmentLimit+1)); err != nil {
		return core.RetryAfter(err, 0)
	}
	if err := mw.Close(); err != nil {
		return core.Permanent(err)
	}
	path := "rest/api/2/issue/" + key + "/attachments"
	req, err := c.jc.NewMultiPartRequestWithContext(ctx, http.MethodPost, path, &body)
	if err != nil {
		return core.Permanent(fmt.Errorf("building POST /%s: %w", path, err))
	}
	req.Header.Set("X-Atlassian-Token", "no-check")
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.send(req, nil, key)
}
