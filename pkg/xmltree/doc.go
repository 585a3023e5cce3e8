// Package xmltree holds a small, bounded XML element tree shared by the
// transport and the protocol packages.
//
// The transport parses every incoming stanza into an *Element once, with
// limits on size, depth and child count that the network cannot raise, and
// hands the tree to the protocol core. The core reads it without touching an
// xml.Decoder again, and the normalizers in pkg/esn and pkg/crypt serialize it
// byte-exactly as their specifications demand.
//
// Element is plain data: it is not safe for concurrent mutation, but a tree
// that nobody writes may be read from many goroutines.
package xmltree
