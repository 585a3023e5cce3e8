package deps

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/fatih/color"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/spf13/cobra"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/crypto/twofish"
	_ "golang.org/x/term"
	_ "mellium.im/sasl"
	_ "mellium.im/xmpp"
	_ "mellium.im/xmpp/disco"
	_ "mellium.im/xmpp/pubsub"
)
