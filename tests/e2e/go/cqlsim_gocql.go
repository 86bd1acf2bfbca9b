// gocql (Debian golang-github-gocql-gocql-dev), default settings, against cqlsim: connect,
// DDL, prepared insert and select (gocql prepares every statement), batch, paging.
// Build in GOPATH mode: GO111MODULE=off GOPATH=/usr/share/gocode go run cqlsim_gocql.go <cqlsim>
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

func check(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "gocql: FAILED %s: %v\n", what, err)
		os.Exit(1)
	}
}

func expect(ok bool, what string) {
	if !ok {
		fmt.Fprintf(os.Stderr, "gocql: FAILED %s\n", what)
		os.Exit(1)
	}
}

func main() {
	// "-endpoint host:port" drives an already running endpoint (tandem) instead of starting cqlsim.
	host, port := "127.0.0.1", 0
	if len(os.Args) > 2 && os.Args[1] == "-endpoint" {
		h, p, err := net.SplitHostPort(os.Args[2])
		check(err, "endpoint")
		host = h
		fmt.Sscan(p, &port)
	} else {
		var sim *exec.Cmd
		port, sim = startCqlsim(os.Args[1])
		defer sim.Process.Kill()
	}
	cluster := gocql.NewCluster(host)
	cluster.Port = port
	session, err := cluster.CreateSession()
	check(err, "connect")
	defer session.Close()

	check(session.Query("CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").Exec(), "create keyspace")
	check(session.Query("CREATE TABLE IF NOT EXISTS ks.t (k int, c int, v text, PRIMARY KEY (k, c))").Exec(), "create table")
	time.Sleep(100 * time.Millisecond)
	for i := 0; i < 200; i++ {
		check(session.Query("INSERT INTO ks.t (k, c, v) VALUES (?, ?, ?)", i%2, i, fmt.Sprintf("v%d", i)).Exec(), "insert")
	}
	var v string
	check(session.Query("SELECT v FROM ks.t WHERE k = ? AND c = ?", 1, 101).Scan(&v), "select")
	expect(v == "v101", "select returned "+v)

	b := session.NewBatch(gocql.LoggedBatch)
	b.Query("INSERT INTO ks.t (k, c, v) VALUES (?, ?, ?)", 7, 1, "b1")
	b.Query("INSERT INTO ks.t (k, c, v) VALUES (?, ?, ?)", 7, 2, "b2")
	check(session.ExecuteBatch(b), "batch")
	var n int
	check(session.Query("SELECT count(*) FROM ks.t WHERE k = 7").Scan(&n), "count")
	expect(n == 2, fmt.Sprintf("batch wrote %d rows", n))

	iter := session.Query("SELECT c FROM ks.t WHERE k = 0").PageSize(15).Iter()
	rows, c, last := 0, 0, -1
	for iter.Scan(&c) {
		expect(c > last, "rows out of order")
		last = c
		rows++
	}
	check(iter.Close(), "paging")
	expect(rows == 100, fmt.Sprintf("paging read %d rows", rows))
	fmt.Println("gocql: all checks passed")
}

// Starts a 3-node cqlsim on a free port.
func startCqlsim(bin string) (int, *exec.Cmd) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err, "free port")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	sim := exec.Command(bin, "--nodes", "3", "--port", fmt.Sprint(port))
	out, err := sim.StdoutPipe()
	check(err, "cqlsim pipe")
	check(sim.Start(), "start cqlsim")
	scanner := bufio.NewScanner(out)
	for seen := 0; seen < 3 && scanner.Scan(); {
		if strings.Contains(scanner.Text(), "listening on") {
			seen++
		}
	}
	go func() {
		for scanner.Scan() {
		}
	}()
	return port, sim
}
