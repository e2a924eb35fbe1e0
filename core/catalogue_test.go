package core

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCatalogue(t *testing.T) {
	var c Catalogue[string]
	if c.Load() != nil {
		t.Fatal("Load before any load: want nil")
	}
	var loads atomic.Int32
	fail := errors.New("down")
	var failing atomic.Bool
	load := func(context.Context) (*string, error) {
		n := loads.Add(1)
		if failing.Load() {
			return nil, fail
		}
		s := string(rune('0' + n))
		return &s, nil
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := c.Get(context.Background(), load); err != nil || *v != "1" {
				t.Errorf("Get = %v, %v; want 1", v, err)
			}
		}()
	}
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("concurrent first Gets loaded %d times, want once", n)
	}
	if v, err := c.Reload(context.Background(), load); err != nil || *v != "2" {
		t.Fatalf("Reload = %v, %v; want 2", v, err)
	}
	failing.Store(true)
	if v, err := c.Reload(context.Background(), load); !errors.Is(err, fail) || v != nil {
		t.Fatalf("failing Reload = %v, %v; want nil, %v", v, err, fail)
	}
	if v, err := c.Get(context.Background(), load); err != nil || *v != "2" || *c.Load() != "2" {
		t.Fatalf("after a failed Reload Get = %v, %v; want the one loaded before (2)", v, err)
	}
	if n := loads.Load(); n != 3 {
		t.Fatalf("loads = %d, want 3 (Get after a load must not load)", n)
	}
}

func TestCatalogueGetError(t *testing.T) {
	var c Catalogue[int]
	fail := errors.New("down")
	if v, err := c.Get(context.Background(), func(context.Context) (*int, error) { return nil, fail }); !errors.Is(err, fail) || v != nil {
		t.Fatalf("Get = %v, %v; want nil, %v", v, err, fail)
	}
	if c.Load() != nil {
		t.Fatal("a failed first load must leave the catalogue empty")
	}
}
