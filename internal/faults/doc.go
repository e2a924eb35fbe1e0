// Package faults holds the fault tests of several replicas on PostgreSQL
// (issue 8). They live in test files built only with the tag faults, and
// need a PostgreSQL server (LIAISON_TEST_POSTGRES, default the local one
// CI provides):
//
//	make test-faults
//	go test -count=1 -tags faults -run Faults -v ./internal/faults/
//
// TestFaults_ReplicasUnderFaults runs three `liaison serve` processes (the
// test binary re-executed) on one PostgreSQL schema behind a round-robin
// balancer, against the HTTP fakes of Zendesk and Jira in the test process.
// While a generator sends a few thousand signed webhooks it SIGKILLs and
// restarts replicas, has the fakes answer 429 and 5xx in bursts, hang
// past the connectors' timeouts, make writes only after the client gave up
// (slow success) or answer just under the timeout, drops webhooks, and
// terminates the
// replicas' PostgreSQL connections. It ends with one summary line and
// asserts that nothing acknowledged was lost and nothing was written twice.
//
// TestFaults_DatabaseOutage cuts a replica off its database and checks that
// /readyz and the webhook intake answer 503 until it is back.
package faults
