package transport

import (
	"bytes"
	"io"
	"sync"

	"github.com/esn-project/esn/pkg/xmltree"
)

// redactedMarker replaces the character data of SASL payload elements in
// traces.
const redactedMarker = "[redacted]"

// tracer writes "SEND: ..." and "RECV: ..." lines to the configured writer.
// It is safe for concurrent use. A nil *tracer traces nothing.
type tracer struct {
	mu sync.Mutex
	w  io.Writer
}

func newTracer(w io.Writer) *tracer {
	if w == nil {
		return nil
	}
	return &tracer{w: w}
}

// line writes one trace line. Errors from the trace writer are ignored: a
// broken trace must not break the connection.
func (t *tracer) line(dir string, data []byte) {
	if t == nil || len(data) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	buf := make([]byte, 0, len(dir)+len(data)+3)
	buf = append(buf, dir...)
	buf = append(buf, ": "...)
	// One line per stanza or chunk: line breaks become character
	// references, which mean the same to an XML reader.
	for _, b := range data {
		switch b {
		case '\n':
			buf = append(buf, "&#10;"...)
		case '\r':
			buf = append(buf, "&#13;"...)
		default:
			buf = append(buf, b)
		}
	}
	buf = append(buf, '\n')
	t.w.Write(buf) //nolint:errcheck // see above
}

// element traces a whole stanza. It is used once the session is negotiated:
// no SASL exchange happens after that point.
func (t *tracer) element(dir string, el *xmltree.Element) {
	if t == nil {
		return
	}
	t.line(dir, []byte(el.String()))
}

// saslPayloadElements are the elements whose character data carries SASL
// payloads (RFC 6120 §6.4.2-§6.4.6) or, in legacy and registration
// protocols, passwords. Their content never reaches a trace.
var saslPayloadElements = map[string]bool{
	"auth":      true,
	"response":  true,
	"challenge": true,
	"success":   true,
	"password":  true,
}

// maxTagName bounds how much of a tag name the redactor remembers; longer
// names cannot be one of saslPayloadElements anyway.
const maxTagName = 64

type redactState uint8

const (
	rsText      redactState = iota // character data outside a tag
	rsTagStart                     // just after '<'
	rsName                         // inside an opening tag's name
	rsAttrs                        // inside an opening tag, after its name
	rsOther                        // inside a closing tag, comment, PI or directive
	rsRedact                       // inside a SASL element's content: suppress
	rsRedactLT                     // saw '<' while suppressing
	rsRedactEnd                    // saw "</" while suppressing: is it our end tag?
)

// redactor removes the character data of SASL payload elements from one
// direction of a raw XML stream. It works byte by byte and keeps its state
// between calls, so an element split over several reads or writes is still
// redacted. It is not safe for concurrent use; mellium serializes the reads
// and the writes of a stream.
//
// It errs on the side of hiding: everything after the start tag of such an
// element, up to the next "</", is replaced by one marker, including CDATA
// sections and any nested markup.
type redactor struct {
	state     redactState
	name      []byte
	quote     byte
	lastSlash bool
	sasl      bool
	open      string // local name of the SASL element being hidden
	marked    bool
}

// redact returns in with SASL payloads replaced by a marker. The result may
// share no memory with in.
func (r *redactor) redact(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for _, b := range in {
		switch r.state {
		case rsText:
			out = append(out, b)
			if b == '<' {
				r.state = rsTagStart
			}
		case rsTagStart:
			out = append(out, b)
			switch b {
			case '/', '!', '?':
				r.state = rsOther
				r.quote = 0
			default:
				r.name = append(r.name[:0], b)
				r.state = rsName
			}
		case rsName:
			if isSpace(b) || b == '/' || b == '>' {
				r.sasl = saslPayloadElements[localName(r.name)]
				r.state = rsAttrs
				r.quote = 0
				r.lastSlash = false
				out = r.attrByte(out, b)
				continue
			}
			if len(r.name) < maxTagName {
				r.name = append(r.name, b)
			}
			out = append(out, b)
		case rsAttrs:
			out = r.attrByte(out, b)
		case rsOther:
			out = append(out, b)
			switch {
			case r.quote != 0:
				if b == r.quote {
					r.quote = 0
				}
			case b == '"' || b == '\'':
				r.quote = b
			case b == '>':
				r.state = rsText
			}
		case rsRedact:
			if b == '<' {
				r.state = rsRedactLT
				continue
			}
			out = r.mark(out)
		case rsRedactLT:
			if b == '/' {
				r.name = r.name[:0]
				r.state = rsRedactEnd
				continue
			}
			// The '<' was content (CDATA, nested markup): keep hiding.
			out = r.mark(out)
			if b != '<' {
				r.state = rsRedact
			}
		case rsRedactEnd:
			switch {
			case b == '<':
				out = r.mark(out)
				r.state = rsRedactLT
			case isSpace(b) || b == '>':
				if localName(r.name) != r.open {
					// Nested markup inside the payload: keep hiding.
					out = r.mark(out)
					r.state = rsRedact
					continue
				}
				out = append(out, '<', '/')
				out = append(out, r.name...)
				out = append(out, b)
				r.state = rsOther
				r.quote = 0
				if b == '>' {
					r.state = rsText
				}
			case len(r.name) < maxTagName:
				r.name = append(r.name, b)
			default:
				out = r.mark(out)
				r.state = rsRedact
			}
		}
	}
	return out
}

func (r *redactor) attrByte(out []byte, b byte) []byte {
	out = append(out, b)
	switch {
	case r.quote != 0:
		if b == r.quote {
			r.quote = 0
		}
	case b == '"' || b == '\'':
		r.quote = b
	case b == '>':
		if r.sasl && !r.lastSlash {
			r.state = rsRedact
			r.open = localName(r.name)
			r.marked = false
		} else {
			r.state = rsText
		}
	}
	if r.quote == 0 && !isSpace(b) {
		r.lastSlash = b == '/'
	}
	return out
}

func (r *redactor) mark(out []byte) []byte {
	if !r.marked {
		r.marked = true
		out = append(out, redactedMarker...)
	}
	return out
}

func localName(name []byte) string {
	if i := bytes.LastIndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	return string(name)
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\r' || b == '\n'
}
