//go:build ignore

// benchtool is scripts/bench.sh's helper (go run scripts/bench/benchtool.go).
//
//	benchtool plain -server HOST:PORT -ca FILE -domain D -n N -wire BYTES
//	    a plaintext stream baseline over esn's own connection code
//	    (pkg/transport): alice sends N chat messages whose serialized
//	    stanza is BYTES long to bob; prints "rate MSGS_PER_S" measured at
//	    bob from the first to the last message.
//	benchtool rate FILE
//	    reads `esn --json receive` output and prints "rate MSGS_PER_S" from
//	    the times of the first and last message events, and "count N".
//	benchtool stats V...
//	    prints "median M min L max H" of the values.
//	benchtool wiresize FILE
//	    prints the length of the longest "SEND: <message ...><c ...>" line
//	    of an `esn --trace` capture (the encrypted stanza on the wire).
package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/esn-project/esn/pkg/transport"
	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp/jid"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: benchtool plain|rate|stats|wiresize ...")
	}
	switch os.Args[1] {
	case "plain":
		plain(os.Args[2:])
	case "rate":
		rate(os.Args[2:])
	case "stats":
		stats(os.Args[2:])
	case "wiresize":
		wiresize(os.Args[2:])
	default:
		fail("unknown subcommand " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "benchtool:", msg)
	os.Exit(1)
}

func plain(args []string) {
	fs := flag.NewFlagSet("plain", flag.ExitOnError)
	server := fs.String("server", "", "host:port")
	ca := fs.String("ca", "", "CA file")
	domain := fs.String("domain", "localhost", "domain")
	n := fs.Int("n", 2000, "messages")
	wire := fs.Int("wire", 1700, "serialized stanza size")
	fs.Parse(args)
	pem, err := os.ReadFile(*ca)
	if err != nil {
		fail(err.Error())
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		fail("no certificate in " + *ca)
	}
	dial := func(user string) *transport.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := transport.Dial(ctx, transport.Config{JID: jid.MustParse(user + "@" + *domain), Password: user + "-pw",
			Server: *server, RootCAs: roots})
		if err != nil {
			fail(err.Error())
		}
		return c
	}
	bob := dial("bob")
	defer bob.Close()
	var got atomic.Int64
	var first, last atomic.Int64
	done := make(chan struct{})
	bob.OnMessage(func(m *xmltree.Element) {
		if m.Child("", "body") == nil {
			return
		}
		now := time.Now().UnixNano()
		k := got.Add(1)
		if k == 1 {
			first.Store(now)
		}
		last.Store(now)
		if k == int64(*n) {
			close(done)
		}
	})
	alice := dial("alice")
	defer alice.Close()
	to := bob.LocalJID().String()
	// Each stanza carries an id, as esn's do; the transport would add one
	// otherwise, and the size would not count it.
	var seq atomic.Uint64
	mk := func(body string) *xmltree.Element {
		m := xmltree.New("jabber:client", "message")
		m.SetAttr("from", alice.LocalJID().String())
		m.SetAttr("to", to)
		m.SetAttr("type", "chat")
		m.SetAttr("id", fmt.Sprintf("%024x", seq.Add(1)))
		m.AddChild(xmltree.New("jabber:client", "thread").AddText("0123456789abcdef0123456789abcdef"))
		m.AddChild(xmltree.New("jabber:client", "body").AddText(body))
		return m
	}
	pad := *wire - len(mk("").String())
	if pad < 1 {
		pad = 1
	}
	body := strings.Repeat("x", pad)
	fmt.Printf("wire %d\n", len(mk(body).String()))
	ctx := context.Background()
	for i := 0; i < *n; i++ {
		if err := alice.Send(ctx, mk(body)); err != nil {
			fail(err.Error())
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		fail(fmt.Sprintf("only %d of %d messages arrived", got.Load(), *n))
	}
	d := time.Duration(last.Load() - first.Load())
	fmt.Printf("rate %.1f\n", float64(*n-1)/d.Seconds())
}

func rate(args []string) {
	if len(args) != 1 {
		fail("usage: benchtool rate FILE")
	}
	f, err := os.Open(args[0])
	if err != nil {
		fail(err.Error())
	}
	defer f.Close()
	var times []time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Event string    `json:"event"`
			Time  time.Time `json:"time"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event == "message" {
			times = append(times, ev.Time)
		}
	}
	if len(times) < 2 {
		fail("fewer than two messages")
	}
	d := times[len(times)-1].Sub(times[0])
	fmt.Printf("count %d\nrate %.1f\n", len(times), float64(len(times)-1)/d.Seconds())
}

func stats(args []string) {
	var v []float64
	for _, a := range args {
		f, err := strconv.ParseFloat(a, 64)
		if err != nil {
			fail(err.Error())
		}
		v = append(v, f)
	}
	if len(v) == 0 {
		fail("no values")
	}
	slices.Sort(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	fmt.Printf("median %.4f min %.4f max %.4f\n", m, v[0], v[len(v)-1])
}

func wiresize(args []string) {
	if len(args) != 1 {
		fail("usage: benchtool wiresize FILE")
	}
	f, err := os.Open(args[0])
	if err != nil {
		fail(err.Error())
	}
	defer f.Close()
	best := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "SEND: <message") && strings.Contains(l, "xep-0200.html#ns") && strings.Contains(l, "<data>") {
			best = max(best, len(l)-len("SEND: "))
		}
	}
	fmt.Println(best)
}
