// Package secret reads the secrets a connector's config names: every
// secret is given as <key>_env (an environment variable) or <key>_file (a
// file, such as a mounted Kubernetes secret), never inline.
package secret

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/liaisonhq/liaison/core"
)

// Read returns the secret that config key key names: the variable name,
// read through env (os.Getenv when env is nil), or the file, with
// surrounding white space (a file's final newline) trimmed.
//
// Naming neither returns "" and no error: whether the secret is required is
// the caller's to say, in its own words. Naming both, an unset or empty
// variable, an unreadable or empty file are errors, so that a typo never
// silently turns authentication off. Errors start with the config key
// (token_env, smtp.password_file, ...) and name the variable or the path;
// they never hold the value.
func Read(env func(string) string, key, name, file string) (core.Secret, error) {
	switch {
	case name != "" && file != "":
		return "", fmt.Errorf("%s_env and %s_file are both set: name one", key, key)
	case name != "":
		if env == nil {
			env = os.Getenv
		}
		v := strings.TrimSpace(env(name))
		if v == "" {
			return "", fmt.Errorf("%s_env: environment variable %q is empty or unset", key, name)
		}
		return core.Secret(v), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			// The path is named once; the cause is kept (fs.ErrNotExist,
			// fs.ErrPermission) for errors.Is.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", fmt.Errorf("%s_file %q: %w", key, file, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s_file %q is empty", key, file)
		}
		return core.Secret(v), nil
	}
	return "", nil
}
