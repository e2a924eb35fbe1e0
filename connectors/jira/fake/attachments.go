package fake

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"time"
)

// attachment is a file on an issue.
type attachment struct {
	id                 int
	filename, mimeType string
	author             string
	content            []byte
	created            time.Time
}

// Attachment is a snapshot of a file on an issue.
type Attachment struct {
	ID, Filename, MimeType, Author string
	Content                        []byte
	Created                        time.Time
}

// addAttachments answers POST /rest/api/2/issue/{key}/attachments: a
// multipart/form-data body whose "file" parts are the files. Like Jira, it
// refuses the request without X-Atlassian-Token: no-check (its XSRF check)
// and answers with the new attachments, as a list.
func (s *Server) addAttachments(iss *issue, r *http.Request, body []byte) (int, any) {
	if r.Header.Get("X-Atlassian-Token") != "no-check" {
		return http.StatusForbidden, errBody("XSRF check failed")
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return http.StatusUnsupportedMediaType, errBody("Attachments must be posted as multipart/form-data.")
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	out := []any{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return http.StatusBadRequest, errBody("Malformed multipart body: " + err.Error())
		}
		if part.FormName() != "file" {
			continue
		}
		content, err := io.ReadAll(part)
		if err != nil {
			return http.StatusBadRequest, errBody("Malformed multipart body: " + err.Error())
		}
		ct := part.Header.Get("Content-Type")
		if ct == "" {
			ct = "application/octet-stream"
		}
		s.nextID++
		a := &attachment{id: s.nextID, filename: part.FileName(), mimeType: ct, author: s.bot, content: content, created: s.touch(iss)}
		iss.attachments = append(iss.attachments, a)
		out = append(out, s.renderAttachment(a))
	}
	if len(out) == 0 {
		return http.StatusBadRequest, errBody("No file was attached: the form field must be named \"file\".")
	}
	return http.StatusOK, out
}

// renderAttachment is an attachment as Jira's API shows it (in the answer
// to an upload and in an issue's fields.attachment).
func (s *Server) renderAttachment(a *attachment) map[string]any {
	id := itoa(a.id)
	return map[string]any{
		"self":     s.base + "/rest/api/2/attachment/" + id,
		"id":       id,
		"filename": a.filename,
		"author":   s.renderUser(a.author),
		"created":  s.jiraTime(a.created),
		"size":     len(a.content),
		"mimeType": a.mimeType,
		"content":  s.base + "/rest/api/2/attachment/content/" + id,
	}
}
