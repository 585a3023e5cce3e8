package archive

import (
	"encoding/base64"
	"strings"

	"github.com/esn-project/esn/pkg/xmltree"
)

// Algorithm identifiers of W3C XML Encryption 1.0 and 1.1 and XML
// Signature used by XEP-0241.
const (
	// TypeContent marks EncryptedData holding element content
	// (XEP-0241 §2: the joined <to/>/<from/>/<note/> sequence).
	TypeContent = NSXMLEnc + "Content"

	// Data encryption. esn writes AES-256-GCM (XML Encryption 1.1
	// §5.2.4: IV | ciphertext | 128-bit tag); the CBC modes are XEP-0241's
	// example and are read only when legacy algorithms are allowed.
	AlgAES128GCM = NSXMLEnc11 + "aes128-gcm"
	AlgAES192GCM = NSXMLEnc11 + "aes192-gcm"
	AlgAES256GCM = NSXMLEnc11 + "aes256-gcm"
	AlgAES128CBC = NSXMLEnc + "aes128-cbc"
	AlgAES192CBC = NSXMLEnc + "aes192-cbc"
	AlgAES256CBC = NSXMLEnc + "aes256-cbc"

	// Key transport. esn writes RSA-OAEP with SHA-256 and MGF1-SHA-256
	// (XML Encryption 1.1 §5.5.2); rsa-oaep-mgf1p (SHA-1 MGF) is read;
	// rsa-1_5, XEP-0241's example, is read only when legacy algorithms
	// are allowed.
	AlgRSAOAEP      = NSXMLEnc11 + "rsa-oaep"
	AlgRSAOAEPMGF1P = NSXMLEnc + "rsa-oaep-mgf1p"
	AlgRSA15        = NSXMLEnc + "rsa-1_5"

	// Digests (DigestMethod of RSA-OAEP) and mask generation functions.
	DigestSHA1   = NSXMLDSig + "sha1"
	DigestSHA256 = NSXMLEnc + "sha256"
	DigestSHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	DigestSHA512 = NSXMLEnc + "sha512"
	MGF1SHA1     = NSXMLEnc11 + "mgf1sha1"
	MGF1SHA256   = NSXMLEnc11 + "mgf1sha256"
	MGF1SHA384   = NSXMLEnc11 + "mgf1sha384"
	MGF1SHA512   = NSXMLEnc11 + "mgf1sha512"
)

// Bounds on encrypted elements.
const (
	maxCipherValue = 8 << 20 // decoded bytes of one EncryptedData
	maxWrappedKey  = 2048    // decoded bytes of one EncryptedKey (RSA up to 16384 bits)
	maxOAEPParams  = 1024
)

// EncryptedData is a W3C XML Encryption <EncryptedData/> as XEP-0241 §2
// uses it: messages encrypted under the symmetric key named KeyName.
type EncryptedData struct {
	Type        string // TypeContent
	Algorithm   string
	KeyName     string // the symmetric key's name (KeyInfo/KeyName)
	CipherValue []byte
}

// EncryptedKey is a W3C XML Encryption <EncryptedKey/> as XEP-0241 §2 uses
// it: the symmetric key named CarriedKeyName, wrapped for the public key
// named KeyName (esn uses the key's XEP-0189 fingerprint, see the package
// documentation).
type EncryptedKey struct {
	Algorithm      string
	Digest         string // DigestMethod of RSA-OAEP; "" is SHA-1, the default
	MGF            string // MGF of xmlenc11 RSA-OAEP; "" is MGF1 with SHA-1, the default
	OAEPParams     []byte // the OAEP label; usually empty
	KeyName        string // the public key's name
	CarriedKeyName string // the symmetric key's name
	CipherValue    []byte
}

func keyInfo(name string) *xmltree.Element {
	return xmltree.New(NSXMLDSig, "KeyInfo").AddChild(xmltree.New(NSXMLDSig, "KeyName").AddText(name))
}

func cipherData(v []byte) *xmltree.Element {
	return xmltree.New(NSXMLEnc, "CipherData").AddChild(
		xmltree.New(NSXMLEnc, "CipherValue").AddText(base64.StdEncoding.EncodeToString(v)))
}

// Element returns the <EncryptedData/> element.
func (d *EncryptedData) Element() *xmltree.Element {
	e := el(NSXMLEnc, "EncryptedData", attr("Type", d.Type))
	e.AddChild(el(NSXMLEnc, "EncryptionMethod", attr("Algorithm", d.Algorithm)))
	e.AddChild(keyInfo(d.KeyName))
	e.AddChild(cipherData(d.CipherValue))
	return e
}

// Element returns the <EncryptedKey/> element, children in the order of
// the XML Encryption schema (CarriedKeyName last; XEP-0241's example puts
// it first, and parsers accept either).
func (k *EncryptedKey) Element() *xmltree.Element {
	e := xmltree.New(NSXMLEnc, "EncryptedKey")
	m := el(NSXMLEnc, "EncryptionMethod", attr("Algorithm", k.Algorithm))
	if len(k.OAEPParams) > 0 {
		m.AddChild(xmltree.New(NSXMLEnc, "OAEPparams").AddText(base64.StdEncoding.EncodeToString(k.OAEPParams)))
	}
	if k.Digest != "" {
		m.AddChild(el(NSXMLDSig, "DigestMethod", attr("Algorithm", k.Digest)))
	}
	if k.MGF != "" {
		m.AddChild(el(NSXMLEnc11, "MGF", attr("Algorithm", k.MGF)))
	}
	e.AddChild(m)
	e.AddChild(keyInfo(k.KeyName))
	e.AddChild(cipherData(k.CipherValue))
	e.AddChild(xmltree.New(NSXMLEnc, "CarriedKeyName").AddText(k.CarriedKeyName))
	return e
}

// leafText returns the text of a child that must hold no elements.
func leafText(e *xmltree.Element, what string) (string, error) {
	if len(e.Children()) > 0 {
		return "", malformed("%s with child elements", what)
	}
	return e.Text(), nil
}

// decodeB64 decodes base64Binary (whitespace allowed) of at most max bytes.
func decodeB64(what, s string, max int) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	if base64.StdEncoding.DecodedLen(len(s)) > max+3 {
		return nil, tooLarge("%s of more than %d bytes", what, max)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, malformed("%s is not base64: %v", what, err)
	}
	if len(b) > max {
		return nil, tooLarge("%s of %d bytes", what, len(b))
	}
	return b, nil
}

// parseKeyName reads <KeyInfo xmlns=dsig><KeyName>…</KeyName></KeyInfo>.
func parseKeyName(ki *xmltree.Element) (string, error) {
	if err := onlyChildren(ki, func(space, local string) bool { return space == NSXMLDSig && local == "KeyName" }); err != nil {
		return "", err
	}
	kn := ki.Child(NSXMLDSig, "KeyName")
	if kn == nil || len(ki.Children()) != 1 {
		return "", malformed("<KeyInfo/> needs exactly one <KeyName/>")
	}
	name, err := leafText(kn, "<KeyName/>")
	if err != nil {
		return "", err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return "", malformed("empty <KeyName/>")
	}
	return name, checkAttr("KeyName", name)
}

// parseCipherValue reads <CipherData><CipherValue>…</CipherValue></CipherData>.
func parseCipherValue(cd *xmltree.Element, max int) ([]byte, error) {
	if err := onlyChildren(cd, func(space, local string) bool { return space == NSXMLEnc && local == "CipherValue" }); err != nil {
		return nil, err
	}
	cv := cd.Child(NSXMLEnc, "CipherValue")
	if cv == nil || len(cd.Children()) != 1 {
		return nil, malformed("<CipherData/> needs exactly one <CipherValue/> (CipherReference is not supported)")
	}
	text, err := leafText(cv, "<CipherValue/>")
	if err != nil {
		return nil, err
	}
	return decodeB64("CipherValue", text, max)
}

// single returns the only child of e named local in space; it fails if
// there are several, and if there is none and required.
func single(e *xmltree.Element, space, local string, required bool) (*xmltree.Element, error) {
	var found *xmltree.Element
	for _, c := range e.Children() {
		if c.Name.Space == space && c.Name.Local == local {
			if found != nil {
				return nil, malformed("two <%s/> in <%s/>", local, e.Name.Local)
			}
			found = c
		}
	}
	if found == nil && required {
		return nil, malformed("<%s/> without <%s/>", e.Name.Local, local)
	}
	return found, nil
}

// ParseEncryptedData parses an <EncryptedData/> strictly (bounded, no
// unknown children). Algorithms are checked when decrypting, not here.
func ParseEncryptedData(e *xmltree.Element) (*EncryptedData, error) {
	if e == nil || e.Name.Space != NSXMLEnc || e.Name.Local != "EncryptedData" {
		return nil, malformed("want <EncryptedData xmlns=%q/>", NSXMLEnc)
	}
	d := &EncryptedData{Type: e.Attribute("Type")}
	if d.Type != "" && d.Type != TypeContent {
		return nil, malformed("EncryptedData Type %q (want %s)", truncate(d.Type), TypeContent)
	}
	if err := onlyChildren(e, func(space, local string) bool {
		return (space == NSXMLEnc && (local == "EncryptionMethod" || local == "CipherData")) ||
			(space == NSXMLDSig && local == "KeyInfo")
	}); err != nil {
		return nil, err
	}
	m, err := single(e, NSXMLEnc, "EncryptionMethod", true)
	if err != nil {
		return nil, err
	}
	if len(m.Children()) > 0 {
		return nil, malformed("<EncryptionMethod/> of EncryptedData with child elements")
	}
	if d.Algorithm = m.Attribute("Algorithm"); d.Algorithm == "" {
		return nil, malformed("<EncryptionMethod/> without Algorithm")
	}
	if err := checkAttr("Algorithm", d.Algorithm); err != nil {
		return nil, err
	}
	ki, err := single(e, NSXMLDSig, "KeyInfo", true)
	if err != nil {
		return nil, err
	}
	if d.KeyName, err = parseKeyName(ki); err != nil {
		return nil, err
	}
	cd, err := single(e, NSXMLEnc, "CipherData", true)
	if err != nil {
		return nil, err
	}
	if d.CipherValue, err = parseCipherValue(cd, maxCipherValue); err != nil {
		return nil, err
	}
	return d, nil
}

// ParseEncryptedKey parses an <EncryptedKey/> strictly, with its children
// in any order.
func ParseEncryptedKey(e *xmltree.Element) (*EncryptedKey, error) {
	if e == nil || e.Name.Space != NSXMLEnc || e.Name.Local != "EncryptedKey" {
		return nil, malformed("want <EncryptedKey xmlns=%q/>", NSXMLEnc)
	}
	if err := onlyChildren(e, func(space, local string) bool {
		return (space == NSXMLEnc && (local == "EncryptionMethod" || local == "CipherData" || local == "CarriedKeyName")) ||
			(space == NSXMLDSig && local == "KeyInfo")
	}); err != nil {
		return nil, err
	}
	k := &EncryptedKey{}
	m, err := single(e, NSXMLEnc, "EncryptionMethod", true)
	if err != nil {
		return nil, err
	}
	if k.Algorithm = m.Attribute("Algorithm"); k.Algorithm == "" {
		return nil, malformed("<EncryptionMethod/> without Algorithm")
	}
	if err := checkAttr("Algorithm", k.Algorithm); err != nil {
		return nil, err
	}
	for _, c := range m.Children() {
		switch {
		case c.Name.Space == NSXMLDSig && c.Name.Local == "DigestMethod" && k.Digest == "":
			k.Digest = c.Attribute("Algorithm")
			if k.Digest == "" {
				return nil, malformed("<DigestMethod/> without Algorithm")
			}
		case c.Name.Space == NSXMLEnc11 && c.Name.Local == "MGF" && k.MGF == "":
			k.MGF = c.Attribute("Algorithm")
			if k.MGF == "" {
				return nil, malformed("<MGF/> without Algorithm")
			}
		case c.Name.Space == NSXMLEnc && c.Name.Local == "OAEPparams" && k.OAEPParams == nil:
			text, err := leafText(c, "<OAEPparams/>")
			if err != nil {
				return nil, err
			}
			if k.OAEPParams, err = decodeB64("OAEPparams", text, maxOAEPParams); err != nil {
				return nil, err
			}
		default:
			return nil, malformed("unexpected <%s/> in <EncryptionMethod/>", c.Name.Local)
		}
	}
	if err := checkAttr("DigestMethod", k.Digest); err != nil {
		return nil, err
	}
	if err := checkAttr("MGF", k.MGF); err != nil {
		return nil, err
	}
	ki, err := single(e, NSXMLDSig, "KeyInfo", true)
	if err != nil {
		return nil, err
	}
	if k.KeyName, err = parseKeyName(ki); err != nil {
		return nil, err
	}
	cd, err := single(e, NSXMLEnc, "CipherData", true)
	if err != nil {
		return nil, err
	}
	if k.CipherValue, err = parseCipherValue(cd, maxWrappedKey); err != nil {
		return nil, err
	}
	ckn, err := single(e, NSXMLEnc, "CarriedKeyName", true)
	if err != nil {
		return nil, err
	}
	name, err := leafText(ckn, "<CarriedKeyName/>")
	if err != nil {
		return nil, err
	}
	if k.CarriedKeyName = strings.TrimSpace(name); k.CarriedKeyName == "" {
		return nil, malformed("empty <CarriedKeyName/>")
	}
	if err := checkAttr("CarriedKeyName", k.CarriedKeyName); err != nil {
		return nil, err
	}
	return k, nil
}
