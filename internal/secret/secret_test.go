package secret

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// canary is a value that must never appear in an error.
const canary = "s3cr3t-canary-7f3a"

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("token", canary+"\n")
	blank := write("blank", " \n\t\n")
	unreadable := filepath.Join(dir, "missing")
	env := map[string]string{"TOKEN": "  " + canary + "\n", "BLANK": "  ", "EMPTY": ""}
	getenv := func(k string) string { return env[k] }

	tests := []struct {
		name, key, envName, file string
		want                     string // the secret, when no error
		err                      string // a part of the error; "" for none
		is                       error  // errors.Is target, if any
	}{
		{name: "neither", key: "token", want: ""},
		{name: "variable, trimmed", key: "token", envName: "TOKEN", want: canary},
		{name: "file, trimmed", key: "webhook_secret", file: good, want: canary},
		{name: "both", key: "token", envName: "TOKEN", file: good, err: "token_env and token_file are both set: name one"},
		{name: "unset variable", key: "token", envName: "NOPE", err: `token_env: environment variable "NOPE" is empty or unset`},
		{name: "empty variable", key: "token", envName: "EMPTY", err: `environment variable "EMPTY" is empty or unset`},
		{name: "blank variable", key: "token", envName: "BLANK", err: `environment variable "BLANK" is empty or unset`},
		{name: "missing file", key: "smtp.password", file: unreadable, err: `smtp.password_file "` + unreadable + `": `, is: fs.ErrNotExist},
		{name: "blank file", key: "password", file: blank, err: `password_file "` + blank + `" is empty`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(getenv, tc.key, tc.envName, tc.file)
			if tc.err == "" {
				if err != nil || got.Reveal() != tc.want {
					t.Fatalf("Read = %q, %v; want %q", got.Reveal(), err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v; want one containing %q", err, tc.err)
			}
			if got != "" {
				t.Fatal("a secret came back with an error")
			}
			if strings.Contains(err.Error(), canary) {
				t.Fatalf("error %q holds the secret", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err %v is not %v", err, tc.is)
			}
			if strings.Count(err.Error(), tc.file) > 1 && tc.file != "" {
				t.Fatalf("error %q repeats the path", err)
			}
		})
	}
}

func TestReadNilEnvIsTheProcessEnvironment(t *testing.T) {
	t.Setenv("LIAISON_SECRET_TEST", canary)
	got, err := Read(nil, "webhook_secret", "LIAISON_SECRET_TEST", "")
	if err != nil || got.Reveal() != canary {
		t.Fatalf("Read = %q, %v", got.Reveal(), err)
	}
}
