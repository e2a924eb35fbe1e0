package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Schema migrations are numbered SQL files, one folder per backend, applied
// in order at Open and recorded in schema_version. A released migration is
// never edited; a change is a new file.
//
//go:embed migrations
var migrationFS embed.FS

var (
	sqliteMigrations   = mustSub("migrations/sqlite")
	postgresMigrations = mustSub("migrations/postgres")
)

func mustSub(dir string) fs.FS {
	sub, err := fs.Sub(migrationFS, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the files of fsys as migrations, in version order.
func migrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, n := range names {
		num, _, ok := strings.Cut(n, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %q: name must start with a number and an underscore", n)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: strings.TrimSuffix(path.Base(n), ".sql"), sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("store: migrations %q and %q share version %d", out[i-1].name, out[i].name, out[i].version)
		}
	}
	return out, nil
}

// migrator is implemented by backends: scripts run several statements, and
// lockMigrations keeps two processes from migrating the same database at
// once (SQLite's BEGIN IMMEDIATE already does; PostgreSQL takes an advisory
// lock).
type migrator interface {
	backend
	lockMigrations(ctx context.Context, q querier) error
	script(ctx context.Context, q querier, sql string) error
}

// migrate applies the migrations the database lacks, all in one
// transaction, so a failed migration leaves the schema as it was.
func migrate(ctx context.Context, be migrator, fsys fs.FS, opts Options) error {
	all, err := migrations(fsys)
	if err != nil {
		return err
	}
	return be.write(ctx, true, func(q querier) error {
		if err := be.lockMigrations(ctx, q); err != nil {
			return fmt.Errorf("store: lock migrations: %w", err)
		}
		if err := be.script(ctx, q, `CREATE TABLE IF NOT EXISTS schema_version (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)`); err != nil {
			return fmt.Errorf("store: create schema_version: %w", err)
		}
		var cur int64
		if err := q.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&cur); err != nil {
			return fmt.Errorf("store: read schema version: %w", err)
		}
		if n := len(all); n > 0 && int(cur) > all[n-1].version {
			return fmt.Errorf("store: database schema version %d is newer than this binary's %d; run the newer liaison", cur, all[n-1].version)
		}
		for _, m := range all {
			if m.version <= int(cur) {
				continue
			}
			if err := be.script(ctx, q, m.sql); err != nil {
				return fmt.Errorf("store: migration %q: %w", m.name, err)
			}
			if _, err := q.exec(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, unixNano(opts.Clock.Now())); err != nil {
				return fmt.Errorf("store: record migration %q: %w", m.name, err)
			}
			opts.Logger.Info("store: schema migrated", "backend", be.name(), "version", m.version, "migration", m.name)
		}
		return nil
	})
}
