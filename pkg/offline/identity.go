package offline

import (
	"bytes"
	"crypto/rsa"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/xmltree"
)

// maxIdentityLen bounds Bob's decrypted identity: a <KeyValue/> of the
// largest accepted key plus its signature, Base64-encoded.
const maxIdentityLen = 8 << 10

// identityPlaintext is Bob's ID_B plaintext for method 'key' (XEP-0187 §3.3
// assumes pubkey=key, O-20; digest #40): NORM_EL(<KeyValue/>) followed by
// <SignatureValue>Base64(sign_B)</SignatureValue>.
func identityPlaintext(keyValue, sig []byte) []byte {
	var b bytes.Buffer
	b.Write(keyValue)
	b.WriteString("<SignatureValue>")
	b.WriteString(crypt.EncodeBase64(sig))
	b.WriteString("</SignatureValue>")
	return b.Bytes()
}

var identityLimits = xmltree.Limits{MaxBytes: maxIdentityLen, MaxDepth: 5, MaxNodes: 32}

// parseIdentity reads a decrypted identity: exactly a <KeyValue/> holding
// one <RSAKeyValue/> and a <SignatureValue/>, without namespace or in the
// XML-DSig one (D-17). It returns the key, NORM_EL(<KeyValue/>) as
// received (pubKey_B of the MAC) and the raw signature.
func parseIdentity(plain []byte) (*rsa.PublicKey, []byte, []byte, error) {
	if len(plain) > maxIdentityLen {
		return nil, nil, nil, errors.New("identity too long")
	}
	wrapped := make([]byte, 0, len(plain)+7)
	wrapped = append(append(append(wrapped, "<r>"...), plain...), "</r>"...)
	dec := xml.NewDecoder(bytes.NewReader(wrapped))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, nil, errors.New("identity is not XML")
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return nil, nil, nil, errors.New("identity is not XML")
	}
	root, err := xmltree.Decode(dec, start, identityLimits)
	if err != nil {
		return nil, nil, nil, errors.New("identity is not well-formed")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, nil, errors.New("identity has trailing data")
	}
	var els []*xmltree.Element
	for _, n := range root.Nodes {
		if n.Element == nil {
			if len(bytes.Trim([]byte(n.Text), " \t\r\n")) > 0 {
				return nil, nil, nil, errors.New("identity has text outside its elements")
			}
			continue
		}
		if s := n.Element.Name.Space; s != "" && s != esn.NSXMLDSig {
			return nil, nil, nil, errors.New("identity element in a foreign namespace")
		}
		els = append(els, n.Element)
	}
	if len(els) != 2 || els[0].Name.Local != "KeyValue" || els[1].Name.Local != "SignatureValue" {
		return nil, nil, nil, errors.New("identity must be a <KeyValue/> and a <SignatureValue/>")
	}
	pub, err := parseKeyValue(els[0])
	if err != nil {
		return nil, nil, nil, err
	}
	sig, err := crypt.DecodeBase64("SignatureValue", textOnly(els[1]), maxSigLen)
	if err != nil {
		return nil, nil, nil, errors.New("bad <SignatureValue/>")
	}
	return pub, esn.NormElement(els[0]), sig, nil
}

// parseKeyValue reads <KeyValue><RSAKeyValue><Modulus/><Exponent/>
// (XML-DSig §4.4.2); DSA keys are not supported.
func parseKeyValue(kv *xmltree.Element) (*rsa.PublicKey, error) {
	ch := kv.Children()
	if len(ch) != 1 || ch[0].Name.Local != "RSAKeyValue" {
		return nil, errors.New("KeyValue must hold one RSAKeyValue")
	}
	var n, e *big.Int
	for _, c := range ch[0].Children() {
		var dst **big.Int
		switch c.Name.Local {
		case "Modulus":
			dst = &n
		case "Exponent":
			dst = &e
		default:
			return nil, errors.New("unexpected element in RSAKeyValue")
		}
		if *dst != nil {
			return nil, errors.New("repeated element in RSAKeyValue")
		}
		b, err := crypt.DecodeBase64(c.Name.Local, textOnly(c), pubkey.MaxBits/8+1)
		if err != nil {
			return nil, fmt.Errorf("bad %s", c.Name.Local)
		}
		*dst = new(big.Int).SetBytes(b)
	}
	if n == nil || e == nil || !e.IsInt64() || e.Int64() > 1<<31-1 {
		return nil, errors.New("RSAKeyValue needs a Modulus and a small Exponent")
	}
	pub := &rsa.PublicKey{N: n, E: int(e.Int64())}
	if err := pubkey.CheckPublicKey(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// textOnly returns an element's character data, or "" if it has element
// children.
func textOnly(el *xmltree.Element) string {
	for _, n := range el.Nodes {
		if n.Element != nil {
			return ""
		}
	}
	return el.Text()
}
