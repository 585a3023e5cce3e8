-- mod_esn_archive136: XEP-0136 Message Archiving (urn:xmpp:archive, v1.3.1)
-- for esn's test server, with manual archiving of XEP-0241 encrypted
-- collections.
--
-- No packaged server implements XEP-0136, so esn's integration tests run
-- against this module. It was written for esn from the project's digest
-- (sessions-keys-offline-archive.md §6, §7.8, §8.6); it copies no community
-- module. Test server only: scripts/prosody.sh loads it through
-- plugin_paths.
--
-- What it implements (XEP-0136 section numbers of v1.3.1):
--   §2   preferences: <pref/> get and set (<default/>, <item/>, <session/>,
--        <method/>), pushes to every resource that asked for the prefs,
--        <itemremove/>, <sessionremove/>; server defaults with unset='true'
--   §6   <auto/> per stream (scope='global' persists); automatic archiving
--        of one-to-one chat/normal message bodies while a resource has it on,
--        by the save modes (session > item > default); 'encrypt' (XEP-0241
--        server-side encryption) is refused with feature-not-implemented
--   §5   manual archiving: <save/> creates (version 0) or appends (version+1),
--        <to/>/<from/>/<note/>, XEP-0241 <EncryptedData/>/<EncryptedKey/>,
--        <previous/>/<next/> links and the x:data attributes form; a
--        collection may not mix plaintext and encrypted children
--   §7   <list/> (JID matching, exactmatch, start/end) and <retrieve/>, both
--        with RSM (XEP-0059) max/after/before/index and count; <remove/>
--        of one collection, a range, everything, or the open ones
--   §8   <modified/> replication with <changed/> and <removed/>
--   §9   disco features urn:xmpp:archive and :auto, :manage, :manual, :pref
--
-- Not implemented: save='message'/'stream' (only bodies are archived; the
-- SHOULD-level errors are returned), expiry of archived collections,
-- conversation tracking (A-84), MUC collections, the XEP-0241 <keys/> and
-- <delete/> rekeying requests, and server-side encryption.
--
-- Storage: one keyval store ("esn_archive136") per user through Prosody's
-- storage API, in the server's data directory. Everything is bounded: the
-- size of a collection, the number of collections, preference items and
-- tombstones per user, and the RSM page size.

local st = require "util.stanza";
local jid_util = require "util.jid";
local datetime = require "util.datetime";
local new_id = require "util.id".short;

local NS = "urn:xmpp:archive";
local NS_RSM = "http://jabber.org/protocol/rsm";
local NS_XENC = "http://www.w3.org/2001/04/xmlenc#";
local NS_DSIG = "http://www.w3.org/2000/09/xmldsig#";
local NS_XDATA = "jabber:x:data";
local NS_SHIM = "http://jabber.org/protocol/shim";
local NS_HINTS = "urn:xmpp:hints";

local max_collection_bytes = module:get_option_number("archive136_max_collection_bytes", 1024 * 1024);
local max_collection_items = module:get_option_number("archive136_max_collection_items", 10000);
local max_collections = module:get_option_number("archive136_max_collections", 2000);
local max_user_bytes = module:get_option_number("archive136_max_user_bytes", 32 * 1024 * 1024);
local max_page = module:get_option_number("archive136_max_page", 100);
local max_pref_items = module:get_option_number("archive136_max_pref_items", 500);
local max_session_rules = module:get_option_number("archive136_max_session_rules", 100);
local max_tombstones = module:get_option_number("archive136_max_tombstones", 1000);
local session_timeout = module:get_option_number("archive136_session_timeout", 3600);
local auto_idle = module:get_option_number("archive136_auto_idle", 1800);
local max_attr = 3071; -- bytes of a JID (RFC 7622) and of thread/subject attributes

local store = module:open_store("esn_archive136");
local host = module.host;

module:add_feature(NS);
module:add_feature(NS .. ":auto");
module:add_feature(NS .. ":manage");
module:add_feature(NS .. ":manual");
module:add_feature(NS .. ":pref");

-- In-memory state: per-user <session/> rules and open auto collections.
local session_rules = {}; -- username -> thread -> { save=, expires=, owner= }
local open_colls = {}; -- username -> key -> { with=, start=, last= }

------------------------------------------------------------------ helpers

local function now() return os.time(); end

local function fmt_time(t) return datetime.datetime(math.floor(t)); end

-- parse_time returns the epoch seconds and the canonical XEP-0082 form.
local function parse_time(s)
	if type(s) ~= "string" or #s > 64 then return nil; end
	local t = datetime.parse(s);
	if not t then return nil; end
	return t, fmt_time(t);
end

local function parse_bool(s)
	if s == "1" or s == "true" then return true; end
	if s == "0" or s == "false" then return false; end
	return nil;
end

local save_modes = { body = true, ["false"] = true, message = true, stream = true };
local otr_modes = { approve = true, concede = true, forbid = true, oppose = true, prefer = true, require = true };
local method_types = { auto = true, ["local"] = true, manual = true };
local method_uses = { concede = true, forbid = true, prefer = true };

local function valid_jid(s)
	if type(s) ~= "string" or s == "" or #s > max_attr then return nil; end
	return jid_util.prep(s);
end

local function nonneg_int(s)
	if s == nil then return nil, true; end
	if not s:match("^%d+$") or #s > 12 then return nil, false; end
	return tonumber(s), true;
end

local function reply_error(origin, stanza, typ, cond, text)
	origin.send(st.error_reply(stanza, typ, cond, text));
	return true;
end

-- jid_matches implements XEP-0136 §10.1 JID matching: a full JID matches only
-- itself, a bare JID any of its resources, a domain any JID at it; with
-- exact, only the same string.
local function jid_matches(pattern, exact, candidate)
	if exact then return pattern == candidate; end
	local pn, ph, pr = jid_util.split(pattern);
	local cn, ch, cr = jid_util.split(candidate);
	if ph ~= ch then return false; end
	if pn == nil then return true; end
	if pn ~= cn then return false; end
	if pr == nil then return true; end
	return pr == cr;
end

local function load_user(username)
	local u, err = store:get(username);
	if err then return nil, err; end
	u = u or {};
	u.seq = u.seq or 0;
	u.prefs = u.prefs or {};
	u.prefs.items = u.prefs.items or {};
	u.prefs.methods = u.prefs.methods or {};
	u.colls = u.colls or {};
	u.removed = u.removed or {};
	u.bytes = u.bytes or 0;
	return u;
end

local function save_user(username, u)
	return store:set(username, u);
end

local function user_sessions(username)
	local bare = prosody.bare_sessions[username .. "@" .. host];
	return bare and bare.sessions or {};
end

local function auto_on(username)
	for _, s in pairs(user_sessions(username)) do
		if s.esn136_auto then return true; end
	end
	return false;
end

local function bump(u)
	u.seq = u.seq + 1;
	return u.seq;
end

local function find_coll(u, with, start)
	for i, c in ipairs(u.colls) do
		if c.with == with and c.start == start then return c, i; end
	end
end

local function coll_id(c) return c.start .. c.with; end

local function coll_attrs(c)
	local a = { with = c.with, start = c.start, version = tostring(c.version) };
	if c.thread then a.thread = c.thread; end
	if c.subject then a.subject = c.subject; end
	if c.crypt then a.crypt = "true"; end
	return a;
end

local function tombstone(u, c)
	table.insert(u.removed, { with = c.with, start = c.start, version = c.version, seq = bump(u), mtime = now() });
	while #u.removed > max_tombstones do table.remove(u.removed, 1); end
end

local function remove_coll(u, i)
	local c = table.remove(u.colls, i);
	u.bytes = u.bytes - (c.bytes or 0);
	tombstone(u, c);
	return c;
end

-- parse_rsm reads an optional <set xmlns=RSM/>.
local function parse_rsm(parent)
	local set = parent:get_child("set", NS_RSM);
	local r = { max = max_page };
	if not set then return r; end
	local max = set:get_child_text("max");
	if max then
		local n, ok = nonneg_int(max);
		if not ok or not n then return nil, "bad <max/>"; end
		r.max = math.min(n, max_page);
	end
	local after = set:get_child("after");
	if after then r.after = after:get_text() or ""; end
	local before = set:get_child("before");
	if before then r.before = before:get_text() or ""; end
	local index = set:get_child_text("index");
	if index then
		local n, ok = nonneg_int(index);
		if not ok or not n then return nil, "bad <index/>"; end
		r.index = n;
	end
	return r;
end

-- page applies RSM to n ordered elements whose ids id_of(i) gives. It
-- returns the first and last positions (first > last for an empty page).
local function page(n, id_of, r)
	local first, last;
	if r.after then
		local pos;
		for i = 1, n do if id_of(i) == r.after then pos = i; break; end end
		if not pos then return nil, "item-not-found"; end
		first = pos + 1;
		last = math.min(n, first + r.max - 1);
	elseif r.before then
		local pos = n + 1;
		if r.before ~= "" then
			pos = nil;
			for i = 1, n do if id_of(i) == r.before then pos = i; break; end end
			if not pos then return nil, "item-not-found"; end
		end
		last = pos - 1;
		first = math.max(1, last - r.max + 1);
	elseif r.index then
		first = r.index + 1;
		last = math.min(n, first + r.max - 1);
	else
		first = 1;
		last = math.min(n, r.max);
	end
	return first, last;
end

local function add_set(el, n, first, last, id_of)
	el:tag("set", { xmlns = NS_RSM });
	if first <= last then
		el:tag("first", { index = tostring(first - 1) }):text(id_of(first)):up();
		el:tag("last"):text(id_of(last)):up();
	end
	el:tag("count"):text(tostring(n)):up();
	el:up();
end

-- serve answers an archiving request sent without 'to' (or to the account)
-- and one addressed to the server, from a local user's stream.
local function serve(typ, name, handler, priority)
	module:hook("iq-" .. typ .. "/self/" .. NS .. ":" .. name, handler, priority);
	module:hook("iq-" .. typ .. "/host/" .. NS .. ":" .. name, function(event)
		local origin = event.origin;
		if origin.type ~= "c2s" or not origin.username or origin.host ~= host then
			return reply_error(origin, event.stanza, "cancel", "forbidden", "archiving is for local users");
		end
		return handler(event);
	end, priority);
end

------------------------------------------------------------------ preferences

local server_default = { otr = "concede", save = "false" };

local function default_pref(u)
	local d = u.prefs.default;
	if d then return d, false; end
	return server_default, true;
end

local function rules_of(username)
	local rules = session_rules[username];
	if not rules then return {}; end
	local t = now();
	for thread, r in pairs(rules) do
		if r.expires < t then rules[thread] = nil; end
	end
	return rules;
end

local function default_el(d, unset)
	local a = { otr = d.otr, save = d.save };
	if d.expire then a.expire = tostring(d.expire); end
	if unset then a.unset = "true"; end
	return st.stanza("default", a);
end

local function item_el(jid, it)
	local a = { jid = jid, otr = it.otr, save = it.save };
	if it.expire then a.expire = tostring(it.expire); end
	if it.exactmatch then a.exactmatch = "true"; end
	return st.stanza("item", a);
end

local function session_el(thread, r)
	return st.stanza("session", { thread = thread, save = r.save, timeout = tostring(session_timeout) });
end

local function methods_into(el, u)
	for _, typ in ipairs({ "auto", "local", "manual" }) do
		el:tag("method", { type = typ, use = u.prefs.methods[typ] or "concede" }):up();
	end
end

-- save_mode resolves the save mode of a message (XEP-0136 §2.9 precedence:
-- session by thread, else item by JID matching, else default).
local function save_mode(username, u, peer, thread)
	if thread then
		local r = rules_of(username)[thread];
		if r then
			r.expires = now() + session_timeout;
			return r.save;
		end
	end
	local best, best_len;
	for jid, it in pairs(u.prefs.items) do
		if jid_matches(jid, it.exactmatch, peer) and (not best_len or #jid > best_len) then
			best, best_len = it, #jid;
		end
	end
	if best and best.save then return best.save; end
	return (default_pref(u)).save;
end

-- uses_full_content reports whether any preference asks for message or
-- stream saving, which this server does not do.
local function uses_full_content(username, u)
	local function full(m) return m == "message" or m == "stream"; end
	if u.prefs.default and full(u.prefs.default.save) then return true; end
	for _, it in pairs(u.prefs.items) do if full(it.save) then return true; end end
	for _, r in pairs(rules_of(username)) do if full(r.save) then return true; end end
	return false;
end

local function push(username, payload)
	for _, s in pairs(user_sessions(username)) do
		if s.esn136_prefs_requested and s.full_jid then
			s.send(st.iq({ type = "set", to = s.full_jid, id = "esn136-push-" .. new_id() }):add_child(payload));
		end
	end
end

serve("get", "pref", function(event)
	local origin, stanza = event.origin, event.stanza;
	local u, err = load_user(origin.username);
	if not u then return reply_error(origin, stanza, "wait", "internal-server-error", err); end
	origin.esn136_prefs_requested = true;
	local pref = st.stanza("pref", { xmlns = NS });
	local scope = "stream";
	if u.auto_global ~= nil and (origin.esn136_auto or false) == u.auto_global then scope = "global"; end
	pref:tag("auto", { save = tostring(origin.esn136_auto or false), scope = scope }):up();
	local d, unset = default_pref(u);
	pref:add_child(default_el(d, unset));
	for jid, it in pairs(u.prefs.items) do pref:add_child(item_el(jid, it)); end
	for thread, r in pairs(rules_of(origin.username)) do pref:add_child(session_el(thread, r)); end
	methods_into(pref, u);
	origin.send(st.reply(stanza):add_child(pref));
	return true;
end);

serve("set", "pref", function(event)
	local origin, stanza = event.origin, event.stanza;
	local username = origin.username;
	local u, err = load_user(username);
	if not u then return reply_error(origin, stanza, "wait", "internal-server-error", err); end
	local pref = stanza.tags[1];
	local changed = st.stanza("pref", { xmlns = NS });
	local methods_changed, any = false, false;
	local new_rules = {};
	local auto = auto_on(username);
	for _, child in ipairs(pref.tags) do
		if child.attr.xmlns ~= NS then
			return reply_error(origin, stanza, "modify", "bad-request", "unexpected element in <pref/>");
		end
		local name, a = child.name, child.attr;
		if name == "default" or name == "item" or name == "session" then
			if a.save and not save_modes[a.save] then
				return reply_error(origin, stanza, "modify", "bad-request", "bad save mode");
			end
			if (a.save == "message" or a.save == "stream") and auto then
				return reply_error(origin, stanza, "cancel", "feature-not-implemented", "only bodies are archived");
			end
		end
		if name == "default" or name == "item" then
			if a.otr and not otr_modes[a.otr] then
				return reply_error(origin, stanza, "modify", "bad-request", "bad otr mode");
			end
			local expire, ok = nonneg_int(a.expire);
			if not ok then return reply_error(origin, stanza, "modify", "bad-request", "bad expire"); end
			local base;
			if name == "default" then
				base = u.prefs.default or server_default;
			else
				local jid = valid_jid(a.jid);
				if not jid then return reply_error(origin, stanza, "modify", "jid-malformed", "bad item jid"); end
				base = u.prefs.items[jid] or server_default;
				a = setmetatable({ jid = jid }, { __index = a });
			end
			local p = { otr = a.otr or base.otr, save = a.save or base.save, expire = expire or base.expire };
			if p.otr == "require" and p.save ~= "false" then
				return reply_error(origin, stanza, "modify", "not-acceptable", "otr='require' needs save='false'");
			end
			if name == "default" then
				u.prefs.default = p;
				changed:add_child(default_el(p, false));
			else
				local exact = parse_bool(a.exactmatch);
				p.exactmatch = exact or nil;
				if not u.prefs.items[a.jid] then
					local n = 0;
					for _ in pairs(u.prefs.items) do n = n + 1; end
					if n >= max_pref_items then
						return reply_error(origin, stanza, "wait", "resource-constraint", "too many items");
					end
				end
				u.prefs.items[a.jid] = p;
				changed:add_child(item_el(a.jid, p));
			end
			any = true;
		elseif name == "session" then
			if not a.thread or a.thread == "" or #a.thread > max_attr or not a.save then
				return reply_error(origin, stanza, "modify", "bad-request", "<session/> needs thread and save");
			end
			new_rules[a.thread] = { save = a.save };
			any = true;
		elseif name == "method" then
			if not method_types[a.type or ""] or not method_uses[a.use or ""] then
				return reply_error(origin, stanza, "modify", "bad-request", "bad method");
			end
			u.prefs.methods[a.type] = a.use;
			methods_changed, any = true, true;
		elseif name == "auto" then
			return reply_error(origin, stanza, "modify", "bad-request", "set <auto/> on its own");
		else
			return reply_error(origin, stanza, "modify", "bad-request", "unknown preference <" .. name .. "/>");
		end
	end
	if not any then return reply_error(origin, stanza, "modify", "bad-request", "empty <pref/>"); end
	local rules = rules_of(username);
	local count = 0;
	for _ in pairs(rules) do count = count + 1; end
	for thread, r in pairs(new_rules) do
		if not rules[thread] then count = count + 1; end
		if count > max_session_rules then
			return reply_error(origin, stanza, "wait", "resource-constraint", "too many session rules");
		end
	end
	local ok, serr = save_user(username, u);
	if not ok then return reply_error(origin, stanza, "wait", "internal-server-error", serr); end
	if next(new_rules) then
		session_rules[username] = rules;
		for thread, r in pairs(new_rules) do
			r.expires, r.owner = now() + session_timeout, origin.full_jid;
			rules[thread] = r;
			changed:add_child(session_el(thread, r));
		end
	end
	if methods_changed then methods_into(changed, u); end
	origin.send(st.reply(stanza));
	push(username, changed);
	return true;
end);

serve("set", "itemremove", function(event)
	local origin, stanza = event.origin, event.stanza;
	local u, err = load_user(origin.username);
	if not u then return reply_error(origin, stanza, "wait", "internal-server-error", err); end
	local out = st.stanza("itemremove", { xmlns = NS });
	local n = 0;
	for item in stanza.tags[1]:childtags("item") do
		local jid = valid_jid(item.attr.jid);
		if not jid then return reply_error(origin, stanza, "modify", "jid-malformed"); end
		u.prefs.items[jid] = nil;
		out:tag("item", { jid = jid }):up();
		n = n + 1;
	end
	if n == 0 then return reply_error(origin, stanza, "modify", "bad-request", "no <item/>"); end
	local ok, serr = save_user(origin.username, u);
	if not ok then return reply_error(origin, stanza, "wait", "internal-server-error", serr); end
	origin.send(st.reply(stanza));
	push(origin.username, out);
	return true;
end);

serve("set", "sessionremove", function(event)
	local origin, stanza = event.origin, event.stanza;
	local rules = rules_of(origin.username);
	local out = st.stanza("sessionremove", { xmlns = NS });
	local n = 0;
	for s in stanza.tags[1]:childtags("session") do
		if not s.attr.thread then return reply_error(origin, stanza, "modify", "bad-request", "<session/> needs thread"); end
		rules[s.attr.thread] = nil;
		out:tag("session", { thread = s.attr.thread }):up();
		n = n + 1;
	end
	if n == 0 then return reply_error(origin, stanza, "modify", "bad-request", "no <session/>"); end
	origin.send(st.reply(stanza));
	push(origin.username, out);
	return true;
end);

------------------------------------------------------------------ auto

local function close_open(username)
	open_colls[username] = nil;
end

serve("set", "auto", function(event)
	local origin, stanza = event.origin, event.stanza;
	local a = stanza.tags[1].attr;
	local save = parse_bool(a.save);
	if save == nil then return reply_error(origin, stanza, "modify", "bad-request", "<auto/> needs a boolean save"); end
	local scope = a.scope or "stream";
	if scope ~= "stream" and scope ~= "global" then
		return reply_error(origin, stanza, "modify", "bad-request", "scope must be global or stream");
	end
	if a.encrypt and parse_bool(a.encrypt) then
		-- XEP-0241 §3: no server-side encryption here.
		return reply_error(origin, stanza, "cancel", "feature-not-implemented", "server-side encryption is not supported");
	end
	local u, err = load_user(origin.username);
	if not u then return reply_error(origin, stanza, "wait", "internal-server-error", err); end
	if save and uses_full_content(origin.username, u) then
		return reply_error(origin, stanza, "cancel", "feature-not-implemented", "only bodies are archived");
	end
	origin.esn136_auto = save;
	if scope == "global" then
		u.auto_global = save;
		local ok, serr = save_user(origin.username, u);
		if not ok then return reply_error(origin, stanza, "wait", "internal-server-error", serr); end
	end
	if not auto_on(origin.username) then close_open(origin.username); end
	origin.send(st.reply(stanza)); -- <auto/> changes are never pushed (A-19)
	return true;
end);

module:hook("resource-bind", function(event)
	local session = event.session;
	if not session.username then return; end
	local u = load_user(session.username);
	session.esn136_auto = (u and u.auto_global) or false;
end);

module:hook("resource-unbind", function(event)
	local session = event.session;
	local username = session.username;
	if not username then return; end
	-- Session rules end with the stream that set them (A-13).
	local rules = session_rules[username];
	if rules then
		for thread, r in pairs(rules) do
			if r.owner == session.full_jid then rules[thread] = nil; end
		end
		if next(rules) == nil then session_rules[username] = nil; end
	end
	if not auto_on(username) then close_open(username); end
end);

------------------------------------------------------------------ collections

local function element_bytes(el) return #tostring(el); end

local function new_coll(u, with, start, t)
	if #u.colls >= max_collections then return nil, "too many collections"; end
	local c = { with = with, start = start, t = t, version = 0, items = {}, keys = {}, bytes = 0 };
	c.seq, c.mtime = bump(u), now();
	table.insert(u.colls, c);
	return c;
end

local function touch(u, c)
	c.version = c.version + 1;
	c.seq, c.mtime = bump(u), now();
end

-- auto-archive one message body for username.
local function auto_record(username, peer, outgoing, stanza)
	if not auto_on(username) then return; end
	local typ = stanza.attr.type or "normal";
	if typ ~= "chat" and typ ~= "normal" then return; end
	local body = stanza:get_child_text("body");
	if not body or body == "" then return; end
	if stanza:get_child("no-store", NS_HINTS) or stanza:get_child("no-permanent-store", NS_HINTS) then return; end
	local shim = stanza:get_child("headers", NS_SHIM);
	if shim then
		for h in shim:childtags("header") do
			if h.attr.name == "store" and (h:get_text() == "false" or h:get_text() == "0") then return; end
		end
	end
	peer = jid_util.prep(peer);
	if not peer then return; end
	local u = load_user(username);
	if not u then return; end
	local thread = stanza:get_child_text("thread");
	if thread == "" then thread = nil; end
	local mode = save_mode(username, u, peer, thread);
	if mode == "false" then return; end
	local t = now();
	open_colls[username] = open_colls[username] or {};
	local key = jid_util.bare(peer) .. "\0" .. (thread or "");
	local o = open_colls[username][key];
	local c = o and o.last + auto_idle >= t and find_coll(u, o.with, o.start);
	if c and c.crypt then c = nil; end
	if not c then
		local err;
		c, err = new_coll(u, peer, fmt_time(t), t);
		if not c then module:log("warn", "auto-archive for %s: %s", username, err); return; end
		c.thread = thread;
		o = { with = c.with, start = c.start, prev = t };
		open_colls[username][key] = o;
	else
		touch(u, c);
	end
	local el = st.stanza(outgoing and "to" or "from", { xmlns = NS, secs = tostring(math.max(0, math.floor(t - (o.prev or t)))) })
		:tag("body"):text(body):up();
	local size = element_bytes(el);
	if c.bytes + size > max_collection_bytes or #c.items >= max_collection_items then
		open_colls[username][key] = nil;
		return;
	end
	table.insert(c.items, st.preserialize(el));
	c.bytes, u.bytes = c.bytes + size, u.bytes + size;
	o.last, o.prev = t, t;
	local ok, err = save_user(username, u);
	if not ok then module:log("warn", "auto-archive for %s: %s", username, err); end
end

local function incoming(event)
	local stanza = event.stanza;
	local username, to_host = jid_util.split(stanza.attr.to);
	if not username or to_host ~= host or not stanza.attr.from then return; end
	auto_record(username, stanza.attr.from, false, stanza);
end

local function outgoing(event)
	local origin, stanza = event.origin, event.stanza;
	if origin.type ~= "c2s" or not origin.username or not stanza.attr.to then return; end
	auto_record(origin.username, stanza.attr.to, true, stanza);
end

module:hook("message/bare", incoming, 1); -- before mod_message delivers (priority 0)
module:hook("message/full", incoming, 1);
module:hook("pre-message/bare", outgoing, 1);
module:hook("pre-message/full", outgoing, 1);

------------------------------------------------------------------ save

local plain_children = { to = true, from = true, note = true };

serve("set", "save", function(event)
	local origin, stanza = event.origin, event.stanza;
	local save = stanza.tags[1];
	if #save.tags ~= 1 or save.tags[1].name ~= "chat" or save.tags[1].attr.xmlns ~= NS then
		return reply_error(origin, stanza, "modify", "bad-request", "<save/> holds exactly one <chat/>");
	end
	local chat = save.tags[1];
	local with = valid_jid(chat.attr.with);
	if not with then return reply_error(origin, stanza, "modify", "jid-malformed", "bad or missing 'with'"); end
	local t, start = parse_time(chat.attr.start);
	if not t then return reply_error(origin, stanza, "modify", "bad-request", "bad or missing 'start'"); end
	if (chat.attr.thread and #chat.attr.thread > max_attr) or (chat.attr.subject and #chat.attr.subject > max_attr) then
		return reply_error(origin, stanza, "modify", "not-acceptable", "attribute too long");
	end
	-- Check every child first: the save is all or nothing.
	local items, keys, plain, crypt, links, form = {}, {}, false, false, {}, nil;
	local added = 0;
	for _, child in ipairs(chat.tags) do
		local name, xmlns = child.name, child.attr.xmlns;
		if xmlns == NS and plain_children[name] then
			if name ~= "note" and #child.tags == 0 and (child:get_text() or "") == "" then
				return reply_error(origin, stanza, "modify", "bad-request", "empty <" .. name .. "/>");
			end
			local _, ok = nonneg_int(child.attr.secs);
			if not ok or (child.attr.utc and not parse_time(child.attr.utc)) then
				return reply_error(origin, stanza, "modify", "bad-request", "bad secs or utc");
			end
			plain = true;
			table.insert(items, child);
		elseif xmlns == NS_XENC and name == "EncryptedData" then
			crypt = true;
			table.insert(items, child);
		elseif xmlns == NS_XENC and name == "EncryptedKey" then
			crypt = true;
			table.insert(keys, child);
		elseif xmlns == NS and (name == "previous" or name == "next") then
			links[name] = child;
		elseif xmlns == NS_XDATA and name == "x" then
			form = child;
		else
			return reply_error(origin, stanza, "cancel", "feature-not-implemented", "unsupported child <" .. name .. "/>");
		end
		added = added + element_bytes(child);
	end
	local username = origin.username;
	local u, err = load_user(username);
	if not u then return reply_error(origin, stanza, "wait", "internal-server-error", err); end
	local c = find_coll(u, with, start);
	local old_plain = c and not c.crypt and #c.items > 0;
	if (plain and crypt) or (plain and c and c.crypt) or (crypt and old_plain) then
		return reply_error(origin, stanza, "modify", "not-acceptable",
			"a collection holds either <to/>/<from/>/<note/> or XEP-0241 encrypted data, not both");
	end
	local cur_bytes = c and c.bytes or 0;
	local cur_items = c and (#c.items + #c.keys) or 0;
	if cur_bytes + added > max_collection_bytes or cur_items + #items + #keys > max_collection_items then
		return reply_error(origin, stanza, "modify", "not-acceptable", "collection too large");
	end
	if u.bytes + added > max_user_bytes then
		return reply_error(origin, stanza, "wait", "resource-constraint", "archive quota exceeded");
	end
	if c then
		touch(u, c);
	else
		c, err = new_coll(u, with, start, t);
		if not c then return reply_error(origin, stanza, "wait", "resource-constraint", err); end
	end
	if chat.attr.thread and chat.attr.thread ~= "" then c.thread = chat.attr.thread; end
	if chat.attr.subject then c.subject = chat.attr.subject ~= "" and chat.attr.subject or nil; end
	for _, el in ipairs(items) do table.insert(c.items, st.preserialize(el)); end
	for _, el in ipairs(keys) do table.insert(c.keys, st.preserialize(el)); end
	for name, el in pairs(links) do
		-- A link without attributes deletes it (no error if absent).
		if el.attr.with and el.attr.start then
			local lw, lt = valid_jid(el.attr.with), select(2, parse_time(el.attr.start));
			if not lw or not lt then return reply_error(origin, stanza, "modify", "bad-request", "bad link"); end
			c[name] = { with = lw, start = lt };
		else
			c[name] = nil;
		end
	end
	if form then
		c.form = (#form.tags > 0) and st.preserialize(form) or nil;
	end
	if crypt then c.crypt = true; end
	c.bytes, u.bytes = c.bytes + added, u.bytes + added;
	local ok, serr = save_user(username, u);
	if not ok then return reply_error(origin, stanza, "wait", "internal-server-error", serr); end
	origin.send(st.reply(stanza):tag("save", { xmlns = NS }):tag("chat", coll_attrs(c)));
	return true;
end);

------------------------------------------------------------------ list / retrieve

local function sorted_colls(u)
	local out = {};
	for _, c in ipairs(u.colls) do table.insert(out, c); end
	table.sort(out, function(a, b)
		if a.t ~= b.t then return a.t < b.t; end
		return a.with < b.with;
	end);
	return out;
end

-- select_colls applies the with/start/end/exactmatch filter of <list/>
-- and <remove/>.
local function filter_attrs(a)
	local f = {};
	if a.with then
		f.with = valid_jid(a.with);
		if not f.with then return nil, "jid-malformed"; end
	end
	f.exact = parse_bool(a.exactmatch) or false;
	if a.start then
		f.start = parse_time(a.start);
		if not f.start then return nil, "bad-request"; end
	end
	if a["end"] then
		f["end"] = parse_time(a["end"]);
		if not f["end"] then return nil, "bad-request"; end
	end
	return f;
end

local function matches(f, c)
	if f.with and not jid_matches(f.with, f.exact, c.with) then return false; end
	if f.start and c.t < f.start then return false; end
	if f["end"] and c.t >= f["end"] then return false; end
	return true;
end

serve("get", "list", function(event)
	local origin, stanza = event.origin, event.stanza;
	local q = stanza.tags[1];
	local f, ferr = filter_attrs(q.attr);
	if not f then return reply_error(origin, stanza, "modify", ferr); end
	local r, rerr = parse_rsm(q);
	if not r then return reply_error(origin, stanza, "modify", "bad-request", rerr); end
	local u, err = load_user(origin.username);
	if not u then return reply_error(origin, stanza, "wait", "internal-server-error", err); end
	local hits = {};
	for _, c in ipairs(sorted_colls(u)) do
		if matches(f, c) then table.insert(hits, c); end
	end
	local list = st.stanza("list", { xmlns = NS });
	if #hits > 0 then
		local id_of = function(i) return coll_id(hits[i]); end
		local first, last = page(#hits, id_of, r);
		if not first then return reply_error(origin, stanza, "cancel", last); end
		for i = first, last do list:tag("chat", coll_attrs(hits[i])):up(); end
		add_set(list, #hits, first, last, id_of);
	end
	origin.send(st.reply(stanza):add_child(list));
	return true;
end);

local function key_names(el)
	-- <EncryptedData><KeyInfo xmlns=dsig><KeyName>name</KeyName></KeyInfo>
	local ki = el:get_child("KeyInfo", NS_DSIG);
	return ki and ki:get_child_text("KeyName", NS_DSIG);
end

local function carried_name(el)
	return el:get_child_text("CarriedKeyName", NS_XENC);
end

serve("get", "retrieve", function(event)
	local origin, stanza = event.origin, event.stanza;
	local q = stanza.tags[1];
	if q.attr.exactmatch then
		return reply_error(origin, stanza, "modify", "bad-request", "<retrieve/> takes no exactmatch");
	end
	local with = valid_jid(q.attr.with);
	local _, start = parse_time(q.attr.start);
	if not with or not start then
		return reply_error(origin, stanza, "modify", "bad-request", "<retrieve/> needs with and start");
	end
	local r, rerr = parse_rsm(q);
	if not r then return reply_error(origin, stanza, "modify", "bad-request", rerr); end
	local wanted;
	for kn in q:childtags("KeyName", NS_DSIG) do
		wanted = wanted or {};
		wanted[kn:get_text() or ""] = true;
	end
	local u, err = load_user(origin.username);
	if not u then return reply_error(origin, stanza, "wait", "internal-server-error", err); end
	local c = find_coll(u, with, start);
	if not c then return reply_error(origin, stanza, "cancel", "item-not-found"); end
	local chat = st.stanza("chat", coll_attrs(c));
	chat.attr.xmlns = NS;
	for _, name in ipairs({ "previous", "next" }) do
		if c[name] then chat:tag(name, { with = c[name].with, start = c[name].start }):up(); end
	end
	if c.form then chat:add_child(st.deserialize(c.form)); end
	local n = #c.items;
	if n > 0 then
		local id_of = function(i) return tostring(i - 1); end
		local first, last = page(n, id_of, r);
		if not first then return reply_error(origin, stanza, "cancel", last); end
		local referenced = {};
		for i = first, last do
			local el = st.deserialize(c.items[i]);
			chat:add_child(el);
			if el.name == "EncryptedData" then
				local kn = key_names(el);
				if kn then referenced[kn] = true; end
			end
		end
		for _, k in ipairs(c.keys) do
			local el = st.deserialize(k);
			local carried = carried_name(el);
			if carried and referenced[carried] and (not wanted or wanted[key_names(el) or ""]) then
				chat:add_child(el);
			end
		end
		add_set(chat, n, first, last, id_of);
	end
	origin.send(st.reply(stanza):add_child(chat));
	return true;
end);

------------------------------------------------------------------ remove

serve("set", "remove", function(event)
	local origin, stanza = event.origin, event.stanza;
	local q = stanza.tags[1];
	local a = q.attr;
	local username = origin.username;
	local u, err = load_user(username);
	if not u then return reply_error(origin, stanza, "wait", "internal-server-error", err); end
	local doomed = {};
	local open = parse_bool(a.open);
	if open then
		-- Only the collections auto-archiving is recording now.
		local f, ferr = filter_attrs({ with = a.with, exactmatch = a.exactmatch });
		if not f then return reply_error(origin, stanza, "modify", ferr); end
		local opened = open_colls[username] or {};
		for key, o in pairs(opened) do
			local c, i = find_coll(u, o.with, o.start);
			if c and matches(f, c) then doomed[i] = true; end
			if not c or matches(f, c) then opened[key] = nil; end
		end
	elseif a.with and a.start and not a["end"] then
		-- One collection: exact with and start.
		local with = valid_jid(a.with);
		local _, start = parse_time(a.start);
		if not with or not start then return reply_error(origin, stanza, "modify", "bad-request"); end
		local _, i = find_coll(u, with, start);
		if i then doomed[i] = true; end
	else
		local f, ferr = filter_attrs(a);
		if not f then return reply_error(origin, stanza, "modify", ferr); end
		for i, c in ipairs(u.colls) do
			if matches(f, c) then doomed[i] = true; end
		end
	end
	local idx = {};
	for i in pairs(doomed) do table.insert(idx, i); end
	if #idx == 0 then return reply_error(origin, stanza, "cancel", "item-not-found"); end
	table.sort(idx, function(x, y) return x > y; end);
	for _, i in ipairs(idx) do remove_coll(u, i); end
	local ok, serr = save_user(username, u);
	if not ok then return reply_error(origin, stanza, "wait", "internal-server-error", serr); end
	origin.send(st.reply(stanza));
	return true;
end);

------------------------------------------------------------------ modified

serve("get", "modified", function(event)
	local origin, stanza = event.origin, event.stanza;
	local q = stanza.tags[1];
	local since = parse_time(q.attr.start);
	if not since then return reply_error(origin, stanza, "modify", "bad-request", "<modified/> needs start"); end
	local r, rerr = parse_rsm(q);
	if not r then return reply_error(origin, stanza, "modify", "bad-request", rerr); end
	local u, err = load_user(origin.username);
	if not u then return reply_error(origin, stanza, "wait", "internal-server-error", err); end
	local changes = {};
	for _, c in ipairs(u.colls) do
		if c.mtime >= since then
			table.insert(changes, { kind = "changed", with = c.with, start = c.start, version = c.version, seq = c.seq });
		end
	end
	for _, d in ipairs(u.removed) do
		if d.mtime >= since then
			table.insert(changes, { kind = "removed", with = d.with, start = d.start, version = d.version, seq = d.seq });
		end
	end
	table.sort(changes, function(x, y) return x.seq < y.seq; end);
	local out = st.stanza("modified", { xmlns = NS });
	if #changes > 0 then
		local id_of = function(i) return tostring(changes[i].seq); end
		local first, last = page(#changes, id_of, r);
		if not first then return reply_error(origin, stanza, "cancel", last); end
		for i = first, last do
			local ch = changes[i];
			out:tag(ch.kind, { with = ch.with, start = ch.start, version = tostring(ch.version) }):up();
		end
		add_set(out, #changes, first, last, id_of);
	end
	origin.send(st.reply(stanza):add_child(out));
	return true;
end);

------------------------------------------------------------------ anything else

-- Every other archiving request gets an answer (A-01).
for _, typ in ipairs({ "get", "set" }) do
	for _, name in ipairs({ "pref", "auto", "save", "list", "retrieve", "remove", "modified", "itemremove", "sessionremove",
		"keys", "delete" }) do
		serve(typ, name, function(event)
			local origin, stanza = event.origin, event.stanza;
			if name == "keys" or name == "delete" then
				return reply_error(origin, stanza, "cancel", "feature-not-implemented", "XEP-0241 rekeying is not supported");
			end
			return reply_error(origin, stanza, "modify", "bad-request", "<" .. name .. "/> is not used with type " .. typ);
		end, -10);
	end
end

module:log("info", "esn_archive136 active: XEP-0136 archiving (manual, auto, manage, pref)");
