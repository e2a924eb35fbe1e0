package mantis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/liaisonhq/liaison/core"
)

// The wire types follow MantisBT's REST answers (api/rest, the Issue,
// IssueNote and project schemas of its OpenAPI document). Fields the
// connector does not use are left out; unknown ones are ignored.

// wireRef is an {id, name} reference (project, category, version).
type wireRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// wireEnum is an enumeration value: status, resolution, priority, severity,
// reproducibility, view state. name is the stable API name; label is
// translated into the API user's language.
type wireEnum struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Label string `json:"label"`
}

// wireUser is a user reference.
type wireUser struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	RealName string `json:"real_name"`
	Email    string `json:"email"`
}

type wireCustomValue struct {
	Field wireRef `json:"field"`
	Value string  `json:"value"`
}

type wireNote struct {
	ID        int64     `json:"id"`
	Reporter  *wireUser `json:"reporter"`
	Text      string    `json:"text"`
	ViewState *wireEnum `json:"view_state"`
	Type      string    `json:"type"`
	CreatedAt string    `json:"created_at"`
}

type wireRelationship struct {
	ID    int64        `json:"id"`
	Type  wireEnum     `json:"type"`
	Issue *wireRelated `json:"issue"`
}

// wireRelated is the far issue of a relationship: id and summary, no project.
type wireRelated struct {
	ID      int64  `json:"id"`
	Summary string `json:"summary"`
}

type wireIssue struct {
	ID                    int64              `json:"id"`
	Summary               string             `json:"summary"`
	Description           string             `json:"description"`
	StepsToReproduce      string             `json:"steps_to_reproduce"`
	AdditionalInformation string             `json:"additional_information"`
	Project               *wireRef           `json:"project"`
	Category              *wireRef           `json:"category"`
	Reporter              *wireUser          `json:"reporter"`
	Handler               *wireUser          `json:"handler"`
	Status                *wireEnum          `json:"status"`
	Resolution            *wireEnum          `json:"resolution"`
	ViewState             *wireEnum          `json:"view_state"`
	Priority              *wireEnum          `json:"priority"`
	Severity              *wireEnum          `json:"severity"`
	Reproducibility       *wireEnum          `json:"reproducibility"`
	CreatedAt             string             `json:"created_at"`
	UpdatedAt             string             `json:"updated_at"`
	Notes                 []wireNote         `json:"notes"`
	Relationships         []wireRelationship `json:"relationships"`
	CustomFields          []wireCustomValue  `json:"custom_fields"`
	Tags                  []wireRef          `json:"tags"`
	History               []wireHistory      `json:"history"`
}

// wireHistory is one entry of an issue's history. For a status change,
// old_value and new_value are status enumerations.
type wireHistory struct {
	CreatedAt string          `json:"created_at"`
	Field     *wireRef        `json:"field"`
	OldValue  json.RawMessage `json:"old_value"`
	NewValue  json.RawMessage `json:"new_value"`
}

// enumName reads a history value that is an enumeration; "" otherwise.
func enumName(raw json.RawMessage) string {
	var e wireEnum
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &e) != nil {
		return ""
	}
	return e.Name
}

// wireIssues is GET /issues (a page, or one issue by id).
type wireIssues struct {
	Issues []wireIssue `json:"issues"`
}

// wireCreated is POST /issues.
type wireCreated struct {
	Issue wireIssue `json:"issue"`
}

// wireNoteAdded is POST /issues/{id}/notes.
type wireNoteAdded struct {
	Note  *wireNote  `json:"note"`
	Issue *wireIssue `json:"issue"`
}

type wireCustomField struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	PossibleValues string `json:"possible_values"`
}

type wireProject struct {
	ID           int64             `json:"id"`
	Name         string            `json:"name"`
	Enabled      *bool             `json:"enabled"`
	Categories   []wireRef         `json:"categories"`
	CustomFields []wireCustomField `json:"custom_fields"`
	SubProjects  []wireRef         `json:"subProjects"`
}

// wireProjects is GET /projects.
type wireProjects struct {
	Projects []wireProject `json:"projects"`
}

// wireConfigs is GET /config?option[]=...: enumerations come as lists of
// {id, name, label}.
type wireConfigs struct {
	Configs []wireConfig `json:"configs"`
}

type wireConfig struct {
	Option string          `json:"option"`
	Value  json.RawMessage `json:"value"`
}

// decodeJSON decodes one JSON document into v and refuses trailing data;
// errors never quote the input.
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return safeJSONError(err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the json document")
	}
	return nil
}

func decodeIssues(b []byte) (*wireIssues, error) {
	var v wireIssues
	if err := decodeJSON(b, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

func decodeCreated(b []byte) (*wireIssue, error) {
	var v wireCreated
	if err := decodeJSON(b, &v); err != nil {
		return nil, err
	}
	if v.Issue.ID <= 0 {
		return nil, errors.New("the answer names no issue id")
	}
	return &v.Issue, nil
}

func decodeNoteAdded(b []byte) (*wireNoteAdded, error) {
	var v wireNoteAdded
	if err := decodeJSON(b, &v); err != nil {
		return nil, err
	}
	if v.Note == nil || v.Note.ID <= 0 {
		return nil, errors.New("the answer names no note id")
	}
	return &v, nil
}

func decodeProjects(b []byte) (*wireProjects, error) {
	var v wireProjects
	if err := decodeJSON(b, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// decodeEnums returns the names of each enumeration option of GET /config
// asked for, by option, reading the answer once.
func decodeEnums(b []byte, options ...string) (map[string][]string, error) {
	var v wireConfigs
	if err := decodeJSON(b, &v); err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(options))
	for _, option := range options {
		i := slices.IndexFunc(v.Configs, func(cf wireConfig) bool { return cf.Option == option })
		if i < 0 {
			return nil, fmt.Errorf("option %q is not in the answer (is it private on this installation?)", option)
		}
		var vals []wireEnum
		if err := json.Unmarshal(v.Configs[i].Value, &vals); err != nil {
			return nil, fmt.Errorf("option %q: %w", option, safeJSONError(err))
		}
		names := make([]string, 0, len(vals))
		for _, e := range vals {
			names = append(names, e.Name)
		}
		out[option] = names
	}
	return out, nil
}

// parseTime reads Mantis's ISO 8601 times ("2026-03-02T10:00:00+01:00").
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is not ISO 8601", core.Clip(s, 40))
	}
	return t.UTC(), nil
}

// safeJSONError describes a JSON decoding error by position or field
// only: the input (a customer's text, maybe) never reaches a log or error.
func safeJSONError(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("malformed json at byte %d", syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("json at byte %d: a %s does not fit %s", typ.Offset, strings.Fields(typ.Value + " value")[0], typ.Type)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("truncated json")
	}
	return errors.New("invalid json")
}
