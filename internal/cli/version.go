package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release's version, set by the release build
// (-ldflags "-X github.com/liaisonhq/liaison/internal/cli.version=v1.2.3").
var version = "dev"

// versionCmd prints the release and, for a build from a checkout, the
// commit it was built from.
func versionCmd(_ context.Context, e *env, args []string) error {
	if len(args) != 0 {
		return errUsage
	}
	commit := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				commit = " (" + s.Value[:12] + ")"
			}
		}
	}
	fmt.Fprintf(e.stdout, "liaison %s%s %s %s/%s\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
