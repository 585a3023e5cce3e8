// Package testserver gives esn's tests a real XMPP server: Prosody 0.12 on
// loopback, run by scripts/prosody.sh.
//
// # Finding the server
//
// [Env] returns the server a test should use:
//
//   - scripts/test.sh (the README's test command, and CI through .ci/run)
//     starts one Prosody for the whole run and sets ESN_TEST_ENV to its
//     esn.env file; every test package shares it.
//   - Under CI (CI=true) without ESN_TEST_ENV, Env fails the test: a missing
//     server is a failure there, never a skip.
//   - Otherwise (a plain `go test ./...`), the first Env call in a test binary
//     starts a private server for that package (installing Prosody with
//     apt-get if needed) on free ports in a fresh temporary directory. It
//     stops, and its directory is removed, within a second of the test binary
//     exiting, however it exits.
//
// [Start] gives one test a server of its own (for instance without MAM, or
// one it may stop), stopped when the test ends.
//
// # Accounts
//
// The users alice, bob and carol (password <user>-pw unless overridden when
// the server started) are mutual roster contacts with presence subscriptions
// both ways, through Prosody's mod_groups; eve is on nobody's roster. Tests in
// all packages share these accounts when they share a server, so a test that
// depends on offline storage, archives or exclusive presence should make its
// own with [Server.NewAccount] (on nobody's roster) or run its own server
// with [Start].
//
// # What the server offers
//
// c2s on [Server.Addr] with optional STARTTLS (plain text and SASL PLAIN are
// allowed, for loopback tests), direct TLS (XEP-0368) on
// [Server.DirectTLSAddr], both with the self-signed certificate in
// [Server.CAFile]; SASL PLAIN and SCRAM-SHA-1(-PLUS); roster, disco, PEP
// (XEP-0163), offline storage (XEP-0160), carbons (XEP-0280), MAM (XEP-0313,
// unless disabled; body-less one-to-one messages such as ESession stanzas
// are archived too, by the local plugin in scripts/prosody/plugins), ping
// (XEP-0199), private XML storage (XEP-0049), and XEP-0136 message
// archiving through the project's own module
// (scripts/prosody/plugins/mod_esn_archive136.lua: no packaged server has
// XEP-0136). No AMP (XEP-0079): no packaged server has it.
//
// [Client] is a deliberately small raw XMPP client (STARTTLS or direct TLS,
// SASL PLAIN, bind) that tests use as a peer sharing no code with
// pkg/transport.
package testserver
