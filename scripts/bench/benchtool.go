//go:build ignore

// benchtool is scripts/bench.sh's helper (go run scripts/bench/benchtool.go).
//
//	benchtool plain -server HOST:PORT -ca FILE -domain D -n N -wire BYTES
//	    a plaintext stream baseline over esn's own connection code
//	    (pkg/transport): alice sends N chat messages whose serialized
//	    stanza is BYTES long to bob; prints "rate MSGS_PER_S" measured at
//	    bob from the first to the last message.
//	benchtool plain-recv -server HOST:PORT -ca FILE -domain D -n N
//	benchtool plain-send -server HOST:PORT -ca FILE -domain D -to JID [-bodylen WIRE]
//	    the same plaintext stream split into two processes that do the
//	    command-line work of `esn --json receive` and `esn send --lines`
//	    without the encryption: plain-recv logs in as bob, prints a
//	    "ready" JSON line with its full JID, then one JSON line per
//	    message body (event, from, thread, body, time) and exits after N;
//	    plain-send logs in as alice and sends each non-empty stdin line as
//	    the body of one chat message (with a thread and an id, as esn's)
//	    to JID, then prints "wire BYTES", the size of the first stanza.
//	    With -bodylen it sends nothing and prints the body length that
//	    makes a stanza WIRE bytes long.
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
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime/pprof"
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
	if name := os.Getenv("ESN_CPUPROFILE"); name != "" {
		// As esn built with -tags esnprofile (scripts/bench.sh -p).
		f, err := os.Create(name)
		if err != nil {
			fail(err.Error())
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err.Error())
		}
		defer pprof.StopCPUProfile()
	}
	switch os.Args[1] {
	case "plain":
		plain(os.Args[2:])
	case "plain-recv":
		plainRecv(os.Args[2:])
	case "plain-send":
		plainSend(os.Args[2:])
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

// server holds the flags that say where the test server is.
type server struct {
	addr, ca, domain *string
}

func serverFlags(fs *flag.FlagSet) server {
	return server{
		addr:   fs.String("server", "", "host:port"),
		ca:     fs.String("ca", "", "CA file"),
		domain: fs.String("domain", "localhost", "domain"),
	}
}

// dial logs in as user (password user-pw) over pkg/transport.
func (s server) dial(user string) *transport.Conn {
	pem, err := os.ReadFile(*s.ca)
	if err != nil {
		fail(err.Error())
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		fail("no certificate in " + *s.ca)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := transport.Dial(ctx, transport.Config{JID: jid.MustParse(user + "@" + *s.domain), Password: user + "-pw",
		Server: *s.addr, RootCAs: roots})
	if err != nil {
		fail(err.Error())
	}
	return c
}

// chatMessage is the plaintext stanza of the baselines: a thread, a body
// and an id, as esn's encrypted stanzas have (the transport would add an id
// otherwise, and the size would not count it).
func chatMessage(from, to jid.JID, id uint64, body string) *xmltree.Element {
	m := xmltree.New("jabber:client", "message")
	m.SetAttr("from", from.String())
	m.SetAttr("to", to.String())
	m.SetAttr("type", "chat")
	m.SetAttr("id", fmt.Sprintf("%024x", id))
	m.AddChild(xmltree.New("jabber:client", "thread").AddText("0123456789abcdef0123456789abcdef"))
	m.AddChild(xmltree.New("jabber:client", "body").AddText(body))
	return m
}

func plain(args []string) {
	fs := flag.NewFlagSet("plain", flag.ExitOnError)
	srv := serverFlags(fs)
	n := fs.Int("n", 2000, "messages")
	wire := fs.Int("wire", 1700, "serialized stanza size")
	fs.Parse(args)
	dial := srv.dial
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
	var seq atomic.Uint64
	mk := func(body string) *xmltree.Element {
		return chatMessage(alice.LocalJID(), bob.LocalJID(), seq.Add(1), body)
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

// messageEvent is the JSON line plain-recv prints per message: the fields
// of `esn --json receive`'s message event that a plaintext message has,
// encoded the same way (a json.Encoder on stdout, with a struct).
type messageEvent struct {
	Body   string `json:"body"`
	Event  string `json:"event"`
	From   string `json:"from"`
	Thread string `json:"thread"`
	Time   string `json:"time"`
}

func plainRecv(args []string) {
	fs := flag.NewFlagSet("plain-recv", flag.ExitOnError)
	srv := serverFlags(fs)
	n := fs.Int("n", 2000, "messages to receive before exiting")
	floor := fs.Int("floor", 0, "do the least work an ESession receiver must add for plaintexts of this size")
	parse := fs.Bool("floor-parse", true, "with -floor, parse the plaintext with encoding/xml (false: return it as it is)")
	fs.Parse(args)
	bob := srv.dial("bob")
	defer bob.Close()
	out := os.Stdout
	enc := json.NewEncoder(out) // as esn's, one write per line
	var got atomic.Int64
	done := make(chan struct{})
	var fl *floorWork
	if *floor > 0 {
		fl = newFloorWork(*floor)
		fl.noParse = !*parse
	}
	bob.OnMessage(func(m *xmltree.Element) {
		body := m.Child("", "body")
		if body == nil {
			return
		}
		text := body.Text()
		if fl != nil {
			text = fl.open(text)
		}
		if err := enc.Encode(messageEvent{Event: "message", From: m.Attribute("from"),
			Thread: m.ChildText("", "thread"), Body: text, Time: time.Now().UTC().Format(time.RFC3339Nano)}); err != nil {
			fail(err.Error())
		}
		if got.Add(1) == int64(*n) {
			close(done)
		}
	})
	ready, _ := json.Marshal(map[string]string{"event": "ready", "jid": bob.LocalJID().String()})
	fmt.Fprintf(out, "%s\n", ready)
	select {
	case <-done:
	case <-bob.Done():
		fail(fmt.Sprintf("connection ended after %d of %d messages: %v", got.Load(), *n, bob.Err()))
	case <-time.After(10 * time.Minute):
		fail(fmt.Sprintf("only %d of %d messages arrived", got.Load(), *n))
	}
}

func plainSend(args []string) {
	fs := flag.NewFlagSet("plain-send", flag.ExitOnError)
	srv := serverFlags(fs)
	to := fs.String("to", "", "full JID of plain-recv")
	bodylen := fs.Int("bodylen", 0, "print the body length for stanzas of this size, and exit")
	floor := fs.Int("floor", 0, "do the least work an ESession sender must add for plaintexts of this size")
	fs.Parse(args)
	var fl *floorWork
	if *floor > 0 {
		fl = newFloorWork(*floor)
	}
	dest, err := jid.Parse(*to)
	if err != nil {
		fail(err.Error())
	}
	alice := srv.dial("alice")
	defer alice.Close()
	if *bodylen > 0 {
		fmt.Println(*bodylen - len(chatMessage(alice.LocalJID(), dest, 0, "").String()))
		return
	}
	ctx := context.Background()
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(nil, 1<<20)
	var seq uint64
	wire := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		seq++
		if fl != nil {
			fl.seal(line)
		}
		m := chatMessage(alice.LocalJID(), dest, seq, line)
		if wire == 0 {
			wire = len(m.String())
		}
		if err := alice.Send(ctx, m); err != nil {
			fail(err.Error())
		}
	}
	if err := sc.Err(); err != nil {
		fail(err.Error())
	}
	fmt.Printf("wire %d\n", wire)
}

// floorWork is the least an ESession endpoint must add to a plaintext
// message under esn's rules, for a plaintext fragment of a given size: the
// sender encrypts it in CTR mode, encodes it in Base64 and computes the
// HMAC of the Base64 text; the receiver computes the HMAC, decodes the
// Base64, decrypts and parses the plaintext with encoding/xml (issue 3:
// the peer's input is parsed by the standard library only) into the body
// it prints. Nothing else: no <c/> element, no counters, no session. The
// "floor" runs of scripts/bench.sh measure it, to show what CPU ratio a
// perfect implementation would reach.
type floorWork struct {
	block cipher.Block
	mac   hash.Hash
	plain []byte // the plaintext fragment, as esn's Open parses it
	size  int
	buf   []byte
	// noParse skips the encoding/xml parse, to show its share of the
	// floor (benchtool plain-recv -floor-parse=false).
	noParse bool
	b64buf  []byte
	sum     []byte
	rd      bytes.Reader
}

func newFloorWork(size int) *floorWork {
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		fail(err.Error())
	}
	const open, close = `<fragment xmlns="jabber:client"><body>`, `</body></fragment>`
	body := strings.Repeat("x", max(1, size-len("<body></body>")))
	return &floorWork{block: block, mac: hmac.New(sha256.New, make([]byte, 32)),
		plain: []byte(open + body + close), size: size,
		buf: make([]byte, base64.StdEncoding.DecodedLen(base64.StdEncoding.EncodedLen(size)))}
}

func (f *floorWork) ctr(b []byte) {
	var iv [16]byte
	cipher.NewCTR(f.block, iv[:]).XORKeyStream(b, b)
}

// seal does the sender's part for one message (line stands for its text).
func (f *floorWork) seal(line string) {
	n := copy(f.buf[:f.size], line)
	f.ctr(f.buf[:n])
	f.b64buf = base64.StdEncoding.AppendEncode(f.b64buf[:0], f.buf[:n])
	f.mac.Reset()
	f.mac.Write(f.b64buf)
	f.sum = f.mac.Sum(f.sum[:0])
}

// open does the receiver's part for one message whose received text
// stands for the Base64 of the ciphertext, and returns the body parsed
// from the plaintext fragment.
func (f *floorWork) open(text string) string {
	enc := text[:min(len(text), base64.StdEncoding.EncodedLen(f.size))]
	f.mac.Reset()
	f.mac.Write([]byte(enc))
	f.sum = f.mac.Sum(f.sum[:0])
	n, err := base64.StdEncoding.Decode(f.buf, []byte(enc))
	if err != nil {
		fail("floor: " + err.Error())
	}
	f.ctr(f.buf[:n])
	if f.noParse {
		return string(f.plain)
	}
	f.rd.Reset(f.plain)
	dec := xml.NewDecoder(&f.rd)
	dec.Strict = true
	body := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return body
		}
		if err != nil {
			fail("floor: " + err.Error())
		}
		if cd, ok := tok.(xml.CharData); ok {
			body += string(cd)
		}
	}
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
