# Liaison. `make run` plays the support story on the sandbox; `make test`
# is what CI runs.
GO       ?= go
FUZZTIME ?= 30s
PKGS      = ./...

.PHONY: build run test test-faults bench fuzz lint clean

build:
	$(GO) build -o bin/liaison ./cmd/liaison

run:
	$(GO) run ./cmd/liaison sandbox

test:
	$(GO) test -count=1 $(PKGS)

# Three replicas on PostgreSQL, killed and restarted under load (issue 8).
test-faults:
	$(GO) test -count=1 -tags faults -run Faults -v ./internal/faults/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)
	$(GO) run ./cmd/liaison bench

# Every fuzz target of every package, for FUZZTIME each (go test fuzzes one
# target of one package at a time; several packages have a FuzzWebhook).
fuzz:
	@set -e; for pkg in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for t in $$(grep -h -o '^func Fuzz[A-Za-z0-9_]*' $$pkg/*_test.go | sed 's/^func //' | sort -u); do \
			echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

lint:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting"; exit 1)
	$(GO) vet $(PKGS)

clean:
	rm -rf bin liaison-sandbox.db liaison-sandbox.db-* liaison-sandbox.db.intake
