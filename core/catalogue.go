package core

import (
	"context"
	"sync"
	"sync/atomic"
)

// Catalogue holds what a connector reads of its system's names (projects,
// fields, statuses) to resolve the mappings against: loaded on first need
// (a write before CheckMappings ran) and replaced whole by Reload, which
// CheckMappings calls at start and on every reload. Once loaded a read is
// one atomic load; the lock is taken only to load, so that two callers
// never load at once. The zero value is empty and ready to use.
type Catalogue[T any] struct {
	p  atomic.Pointer[T]
	mu sync.Mutex
}

// Load returns the catalogue loaded so far, nil before the first load.
func (c *Catalogue[T]) Load() *T { return c.p.Load() }

// Get returns the loaded catalogue, loading it with load on first need.
func (c *Catalogue[T]) Get(ctx context.Context, load func(context.Context) (*T, error)) (*T, error) {
	if v := c.p.Load(); v != nil {
		return v, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v := c.p.Load(); v != nil {
		return v, nil
	}
	return c.store(load(ctx))
}

// Reload loads the catalogue afresh and keeps it; on error the one loaded
// before stays.
func (c *Catalogue[T]) Reload(ctx context.Context, load func(context.Context) (*T, error)) (*T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.store(load(ctx))
}

func (c *Catalogue[T]) store(v *T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	c.p.Store(v)
	return v, nil
}
