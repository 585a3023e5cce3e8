-- mod_esn_archive_all: let mod_mam (XEP-0313) archive body-less one-to-one
-- messages.
--
-- Prosody 0.12's mod_mam stores a message only when it has a <body/> (or a
-- <store xmlns='urn:xmpp:hints'/> hint). ESession stanzas (XEP-0116/XEP-0200)
-- carry their content in <c/> and have no body, so esn's tests could not see
-- what the server archived. This module answers mod_mam's
-- "archive-should-store" event before mod_mam's own handler: chat and normal
-- messages are stored unless they carry a XEP-0334 <no-store/> or
-- <no-permanent-store/> hint; for every other stanza it returns nothing and
-- mod_mam decides as usual.
--
-- Test server only (scripts/prosody.sh loads it through plugin_paths).

local hints = "urn:xmpp:hints";

module:hook("archive-should-store", function (event)
	local stanza = event.stanza;
	local typ = stanza.attr.type or "normal";
	if typ ~= "chat" and typ ~= "normal" then
		return; -- groupchat, headline, error: let mod_mam decide
	end
	if stanza:get_child("no-store", hints) or stanza:get_child("no-permanent-store", hints) then
		return false;
	end
	return true;
end, 10); -- mod_mam's own handler runs at priority -1

module:log("info", "esn_archive_all active: archiving body-less chat/normal messages");
