package transcript

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/esn-project/esn/pkg/xmltree"
)

// MaxCaptureSize bounds the input of [ReadCapture].
const MaxCaptureSize = 64 << 20

// ErrCaptureTooLarge is returned for a capture over MaxCaptureSize.
var ErrCaptureTooLarge = errors.New("transcript: capture is larger than 64 MiB")

// Record is one stanza of a capture.
type Record struct {
	// Line is the line of the capture the stanza starts on (1-based).
	Line int
	// Dir is "SEND" or "RECV" for `esn --trace` captures, "" otherwise.
	Dir    string
	Stanza *xmltree.Element
}

// ReadCapture reads the message stanzas of a capture. When the input has
// lines starting with "SEND: " or "RECV: " it is read as `esn --trace`
// output: each such line that holds one complete <message/> is a record,
// and everything else (stream negotiation chunks, IQs, presence, other
// esn output) is skipped. Otherwise it is read as XML: every <message/>
// element, at the top level or inside any wrapper element (a
// <stream:stream/>, a log root), in document order.
func ReadCapture(r io.Reader) ([]Record, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxCaptureSize+1))
	if err != nil {
		return nil, fmt.Errorf("transcript: reading the capture: %w", err)
	}
	if len(data) > MaxCaptureSize {
		return nil, ErrCaptureTooLarge
	}
	if isTrace(data) {
		return readTrace(data)
	}
	return readXML(data)
}

func isTrace(data []byte) bool {
	for line := range bytes.Lines(data) {
		if bytes.HasPrefix(line, []byte("SEND: ")) || bytes.HasPrefix(line, []byte("RECV: ")) {
			return true
		}
	}
	return false
}

func readTrace(data []byte) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), xmltree.DefaultMaxBytes+16)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		dir, payload, ok := strings.Cut(line, ": ")
		if !ok || (dir != "SEND" && dir != "RECV") || !strings.HasPrefix(payload, "<message") {
			continue
		}
		el, err := xmltree.Parse([]byte(payload), xmltree.Limits{})
		if err != nil {
			return out, fmt.Errorf("transcript: line %d: %w", n, err)
		}
		out = append(out, Record{Line: n, Dir: dir, Stanza: el})
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("transcript: line %d: %w", n+1, err)
	}
	return out, nil
}

func readXML(data []byte) ([]Record, error) {
	var out []Record
	d := xml.NewDecoder(bytes.NewReader(data))
	lineAt := func(off int64) int { return 1 + bytes.Count(data[:min(int(off), len(data))], []byte{'\n'}) }
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("transcript: line %d: %w", lineAt(d.InputOffset()), err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch start.Name.Local {
		case "message", "iq", "presence":
			el, err := xmltree.Decode(d, start, xmltree.Limits{})
			if err != nil {
				return out, fmt.Errorf("transcript: line %d: %w", lineAt(off), err)
			}
			if start.Name.Local == "message" {
				out = append(out, Record{Line: lineAt(off), Stanza: el})
			}
		}
		// Any other element is a wrapper: read on into its children.
	}
}
