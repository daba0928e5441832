--[[
mip4-rfc4881.lua -- Wireshark/tshark dissector for Mobile IPv4 Low-Latency Handoffs (RFC 4881)

Decodes what the stock Wireshark 4.0 dissectors cannot read:

  * UDP port 434, message types 16 and 17: Handoff Request (HRqst) and Handoff Reply (HRply),
    RFC 4881 sections 4.5-4.7, including the Handoff to Third (HTT: H and N both set): type,
    flags H N R M G T B, variant (s)/(t)/(r)/HTT, code, lifetime (0 and 0xFFFF meanings),
    MN home address, HA address, 64-bit identification, and the extensions: LLA 138 with its
    seven sub-types (section 9), the Generalized Authentication extension 36 in the long
    format (FA-FA is sub-type 2, RFC 4857 section 11), MN-HA/MN-FA/FA-HA authentication
    (32-34), one-byte padding, and any other extension as type/length/raw data.
    Every other UDP 434 message (Registration Request/Reply, ...) is handed to the stock
    "mip" dissector unchanged; for Registration Request/Reply (1, 3) and the regional ones
    (18, 19) the LLA 138 extensions it shows as raw bytes are decoded in an extra tree.
  * ICMP Router Advertisement (9) and Router Solicitation (10): the router-discovery LLA
    extension 140 (PrRtAdv/PrRtSol, RFC 4881 sections 9 and 10.1), through a post-dissector
    that walks the extensions after the stock ICMP dissector has run.

Filter fields: mip4ll.* (UDP 434) and mip4ll.rd.* (router discovery). Load with
  tshark -X lua_script:contrib/wireshark/mip4-rfc4881.lua -r capture.pcap
or copy this file into the personal Lua plugins folder (Help > About Wireshark > Folders).

Written for Wireshark 4.0 (Lua 5.2) and later; uses no bit library and no Lua 5.3 operators.
]]

local FIXED_SIZE = 24 -- RFC 4881 sections 4.5 and 4.6: both fixed parts are 24 bytes

-- ------------------------------------------------------------------------ value tables

local message_types = {
    [1] = "Registration Request",
    [3] = "Registration Reply",
    [16] = "Handoff Request",
    [17] = "Handoff Reply",
    [18] = "Regional Registration Request",
    [19] = "Regional Registration Reply",
}

local reply_codes = {
    [0] = "Successful handoff",
    [1] = "Generic handoff failure",
}

-- Control-message (UDP 434) extension types, one number space (RFC 5944 section 1.8).
local control_ext_types = {
    [0] = "One-byte Padding",
    [32] = "Mobile-Home Authentication",
    [33] = "Mobile-Foreign Authentication",
    [34] = "Foreign-Home Authentication",
    [36] = "Generalized Mobile IP Authentication",
    [37] = "Critical Vendor/Organization Specific (old)",
    [38] = "Critical Vendor/Organization Specific",
    [46] = "GFA IP Address",
    [130] = "Encapsulating Delivery Style",
    [131] = "Mobile Node NAI",
    [132] = "MN-FA Challenge",
    [138] = "Generalized Link Layer and IPv4 Address (LLA)",
    [140] = "Hierarchical Foreign Agent",
    [141] = "Replay Protection Style",
    [142] = "Regional Registration Lifetime",
    [255] = "Skippable Experimental",
}

-- Router-discovery (ICMP 9/10) extension types: an independent number space.
local rd_ext_types = {
    [0] = "One-byte Padding",
    [16] = "Mobility Agent Advertisement",
    [19] = "Prefix-Lengths",
    [24] = "Challenge",
    [140] = "Generalized Link Layer and IPv4 Address (LLA)",
}

local lla_subtypes = {
    [1] = "3GPP2 IMSI and Connection ID",
    [2] = "3GPP IMSI",
    [3] = "Ethernet 48-bit MAC address",
    [4] = "EUI-64",
    [5] = "Solicited IPv4 Address",
    [6] = "Access Point Identifier",
    [7] = "FA IPv4 Address",
}

local gen_auth_subtypes = {
    [1] = "MN-AAA",
    [2] = "FA-FA",
    [3] = "MN-GFA",
    [4] = "MN-PAR",
}

local variant_names = {
    s = "(s) source-triggered, section 4.1",
    t = "(t) target-triggered, section 4.1",
    r = "(r) renewal or termination, section 4.3",
    htt = "HTT, Handoff to Third, section 4.2",
}

-- ------------------------------------------------------------------------ protocols, fields

local mip4ll = Proto("mip4ll", "Mobile IPv4 Low-Latency Handoffs (RFC 4881)")
local mip4ll_rd = Proto("mip4ll.rd", "Mobile IPv4 LLA in Router Discovery (RFC 4881)")

-- Link-layer address value fields, one set per extension space (prefix "mip4ll." or
-- "mip4ll.rd.").
local function lla_fields(prefix)
    return {
        ext_type = ProtoField.uint8(prefix .. "ext.type", "Extension Type", base.DEC,
            prefix == "mip4ll." and control_ext_types or rd_ext_types),
        ext_length = ProtoField.uint16(prefix .. "ext.length", "Length", base.DEC),
        subtype = ProtoField.uint8(prefix .. "lla.subtype", "Sub-Type", base.DEC, lla_subtypes),
        imsi = ProtoField.string(prefix .. "lla.imsi", "IMSI"),
        connection_id = ProtoField.uint32(prefix .. "lla.connection_id", "Connection ID",
            base.DEC),
        mac = ProtoField.ether(prefix .. "lla.mac", "MAC Address"),
        eui64 = ProtoField.eui64(prefix .. "lla.eui64", "EUI-64"),
        ipv4 = ProtoField.ipv4(prefix .. "lla.ipv4", "IPv4 Address"),
        apid = ProtoField.uint32(prefix .. "lla.apid", "Access Point Identifier", base.HEX),
        data = ProtoField.bytes(prefix .. "lla.data", "LLA"),
    }
end

local LF = lla_fields("mip4ll.")
local RF = lla_fields("mip4ll.rd.")

local hf = {
    type = ProtoField.uint8("mip4ll.type", "Message Type", base.DEC, message_types),
    flags = ProtoField.uint8("mip4ll.flags", "Flags", base.HEX),
    flag_h = ProtoField.bool("mip4ll.flags.h", "H: source-triggered", 8, nil, 0x80),
    flag_n = ProtoField.bool("mip4ll.flags.n", "N: target-triggered", 8, nil, 0x40),
    flag_r = ProtoField.bool("mip4ll.flags.r", "R: renewal or termination", 8, nil, 0x20),
    flag_m = ProtoField.bool("mip4ll.flags.m", "M: minimal encapsulation", 8, nil, 0x10),
    flag_g = ProtoField.bool("mip4ll.flags.g", "G: GRE encapsulation", 8, nil, 0x08),
    flag_t = ProtoField.bool("mip4ll.flags.t", "T: bidirectional tunnel", 8, nil, 0x04),
    flag_b = ProtoField.bool("mip4ll.flags.b", "B: MN asked for a reverse tunnel", 8, nil, 0x02),
    flag_x = ProtoField.bool("mip4ll.flags.reserved", "Reserved", 8, nil, 0x01),
    variant = ProtoField.string("mip4ll.variant", "Variant"),
    reserved = ProtoField.bytes("mip4ll.reserved", "Reserved"),
    code = ProtoField.uint8("mip4ll.code", "Code", base.DEC, reply_codes),
    lifetime = ProtoField.uint16("mip4ll.lifetime", "Lifetime", base.DEC),
    homeaddr = ProtoField.ipv4("mip4ll.homeaddr", "MN Home Address"),
    haaddr = ProtoField.ipv4("mip4ll.haaddr", "HA Address"),
    ident = ProtoField.uint64("mip4ll.ident", "Identification", base.HEX),
    ext_data = ProtoField.bytes("mip4ll.ext.data", "Data"),
    auth_subtype = ProtoField.uint8("mip4ll.auth.subtype", "Sub-Type", base.DEC,
        gen_auth_subtypes),
    auth_spi = ProtoField.uint32("mip4ll.auth.spi", "SPI", base.HEX),
    auth_authenticator = ProtoField.bytes("mip4ll.auth.authenticator", "Authenticator"),
}

local ef = {
    truncated = ProtoExpert.new("mip4ll.truncated", "Message or extension is truncated",
        expert.group.MALFORMED, expert.severity.ERROR),
    lla_length = ProtoExpert.new("mip4ll.lla.bad_length", "LLA length does not fit its sub-type",
        expert.group.MALFORMED, expert.severity.ERROR),
    reserved = ProtoExpert.new("mip4ll.reserved.nonzero", "Reserved bits are not zero",
        expert.group.PROTOCOL, expert.severity.WARN),
    variant = ProtoExpert.new("mip4ll.variant.none",
        "Flags name no handoff variant (exactly one of H, N, R, or H and N for an HTT)",
        expert.group.PROTOCOL, expert.severity.WARN),
    lla_value = ProtoExpert.new("mip4ll.lla.bad_value", "LLA value is not in its sub-type's form",
        expert.group.PROTOCOL, expert.severity.WARN),
}

local rd_ef = {
    truncated = ProtoExpert.new("mip4ll.rd.truncated", "Router-discovery extension is truncated",
        expert.group.MALFORMED, expert.severity.ERROR),
    lla_length = ProtoExpert.new("mip4ll.rd.lla.bad_length",
        "LLA length does not fit its sub-type", expert.group.MALFORMED, expert.severity.ERROR),
    lla_value = ProtoExpert.new("mip4ll.rd.lla.bad_value",
        "LLA value is not in its sub-type's form", expert.group.PROTOCOL, expert.severity.WARN),
}

local function values(t)
    local out = {}
    for _, v in pairs(t) do out[#out + 1] = v end
    return out
end

do
    local all = values(hf)
    for _, v in pairs(LF) do all[#all + 1] = v end
    mip4ll.fields = all
    mip4ll.experts = values(ef)
    mip4ll_rd.fields = values(RF)
    mip4ll_rd.experts = values(rd_ef)
end

-- ------------------------------------------------------------------------ helpers

local function bit(value, mask)
    return math.floor(value / mask) % 2 == 1
end

-- RFC 4881 sections 4.5-4.7: the variant from H, N and R (as mip4.wire.handoff does).
local function variant_of(flags)
    local h, n, r = bit(flags, 0x80), bit(flags, 0x40), bit(flags, 0x20)
    if h and n then return "htt" end
    if h and not r then return "s" end
    if n and not r then return "t" end
    if r and not h and not n then return "r" end
    return nil
end

-- 3GPP TS 23.003 TBCD: two digits a byte, low nibble first, 0xF fills an odd count.
local function tbcd_digits(range)
    local digits = {}
    local n = range:len()
    for i = 0, n - 1 do
        local byte = range(i, 1):uint()
        local lo, hi = byte % 16, math.floor(byte / 16)
        if lo > 9 then return nil end
        digits[#digits + 1] = tostring(lo)
        if hi == 15 and i == n - 1 then break end
        if hi > 9 then return nil end
        digits[#digits + 1] = tostring(hi)
    end
    return table.concat(digits)
end

-- The LLA value (the bytes after the Sub-Type byte), RFC 4881 sections 9.1-9.7.
local function add_lla_value(tree, F, E, pinfo, subtype, range)
    local n = range and range:len() or 0
    local function exact(size)
        if n ~= size then
            local item = range and tree:add(F.data, range) or tree
            item:add_proto_expert_info(E.lla_length,
                string.format("sub-type %d needs %d bytes, has %d", subtype, size, n))
            return false
        end
        return true
    end
    if subtype == 1 then -- section 9.1: ASCII "<IMSI>:<Connection Id>"
        if n == 0 then
            tree:add_proto_expert_info(E.lla_length, "empty 3GPP2 IMSI")
            return
        end
        local text = range:string()
        local colon = text:match("^.*():")
        if colon == nil then
            local item = tree:add(F.imsi, range)
            item:add_proto_expert_info(E.lla_value, "no ':' before a connection id")
            return
        end
        tree:add(F.imsi, range(0, colon - 1), text:sub(1, colon - 1))
        local conn = text:sub(colon + 1)
        if conn:match("^%d+$") and colon < n then
            tree:add(F.connection_id, range(colon, n - colon), tonumber(conn))
        else
            local item = tree:add(F.data, colon < n and range(colon, n - colon) or range)
            item:add_proto_expert_info(E.lla_value, "connection id is not a decimal number")
        end
    elseif subtype == 2 then -- section 9.2: IMSI coded per 3GPP TS 23.003 (TBCD)
        local digits = n > 0 and n <= 8 and tbcd_digits(range) or nil
        if digits == nil then
            local item = tree:add(F.data, range)
            item:add_proto_expert_info(E.lla_value, "not a TBCD IMSI of 1-15 digits")
        else
            tree:add(F.imsi, range, digits)
        end
    elseif subtype == 3 then -- section 9.3: 48-bit MAC
        if exact(6) then tree:add(F.mac, range) end
    elseif subtype == 4 then -- section 9.4: EUI-64
        if exact(8) then tree:add(F.eui64, range) end
    elseif subtype == 5 or subtype == 7 then -- sections 9.5, 9.7: IPv4 address
        if exact(4) then tree:add(F.ipv4, range) end
    elseif subtype == 6 then -- section 9.6: 32-bit access point identifier
        if exact(4) then tree:add(F.apid, range) end
    elseif n > 0 then
        tree:add(F.data, range)
    end
end

-- One LLA extension (Type | Length | Sub-Type | LLA) at offset; returns its subtree.
local function add_lla(parent, tvb, offset, length, F, E, pinfo, label)
    local ext = parent:add(tvb(offset, 2 + length), label)
    ext:add(F.ext_type, tvb(offset, 1))
    ext:add(F.ext_length, tvb(offset + 1, 1), length)
    if length < 1 then
        ext:add_proto_expert_info(E.lla_length, "LLA without a Sub-Type byte")
        return ext
    end
    local subtype = tvb(offset + 2, 1):uint()
    ext:add(F.subtype, tvb(offset + 2, 1))
    local name = lla_subtypes[subtype] or ("unassigned sub-type " .. subtype)
    ext:append_text(": " .. name)
    local value = length > 1 and tvb(offset + 3, length - 1) or nil
    add_lla_value(ext, F, E, pinfo, subtype, value)
    return ext
end

-- ------------------------------------------------------------------------ UDP 434

-- Walk control-message extensions from offset; full=true decodes every extension (handoff
-- messages), full=false only adds LLA 138 trees (registration messages). Returns false if
-- the chain overruns the message.
local function dissect_extensions(tvb, pinfo, tree, offset, full)
    local len = tvb:len()
    local exts = nil
    local function container()
        if exts == nil then
            if full then
                exts = tree:add(tvb(offset, len - offset), "Extensions")
            else
                exts = tree:add(mip4ll, tvb(offset, len - offset),
                    "Mobile IPv4 LLA extensions (RFC 4881 section 9)")
            end
        end
        return exts
    end
    while offset < len do
        local etype = tvb(offset, 1):uint()
        if etype == 0 then -- RFC 5944 section 1.8: one byte, no Length
            if full then
                local item = container():add(tvb(offset, 1), "One-byte Padding")
                item:add(LF.ext_type, tvb(offset, 1))
            end
            offset = offset + 1
        elseif etype == 36 or etype == 37 or etype == 38 then
            -- long format: Type | Sub-Type | Length (16 bits) | data (RFC 5944 section 1.11)
            if offset + 4 > len then
                if full then
                    container():add_proto_expert_info(ef.truncated,
                        "long extension header needs 4 bytes")
                end
                return false
            end
            local elen = tvb(offset + 2, 2):uint()
            if offset + 4 + elen > len then
                if full then
                    local item = container():add(tvb(offset, len - offset),
                        control_ext_types[etype] or "Extension")
                    item:add_proto_expert_info(ef.truncated, string.format(
                        "Length %d, only %d bytes remain", elen, len - offset - 4))
                end
                return false
            end
            if full then
                local item = container():add(tvb(offset, 4 + elen),
                    control_ext_types[etype] or "Extension")
                item:add(LF.ext_type, tvb(offset, 1))
                if etype == 36 then
                    local sub = tvb(offset + 1, 1):uint()
                    item:append_text(": " .. (gen_auth_subtypes[sub] or ("sub-type " .. sub)))
                    item:add(hf.auth_subtype, tvb(offset + 1, 1))
                    item:add(LF.ext_length, tvb(offset + 2, 2))
                    if elen >= 4 then
                        item:add(hf.auth_spi, tvb(offset + 4, 4))
                        if elen > 4 then
                            item:add(hf.auth_authenticator, tvb(offset + 8, elen - 4))
                        end
                    else
                        item:add_proto_expert_info(ef.truncated, "Length cannot hold the SPI")
                    end
                else
                    item:add(LF.ext_length, tvb(offset + 2, 2))
                    if elen > 0 then item:add(hf.ext_data, tvb(offset + 4, elen)) end
                end
            end
            offset = offset + 4 + elen
        else
            if offset + 2 > len then
                if full then
                    container():add_proto_expert_info(ef.truncated,
                        string.format("extension %d has no Length byte", etype))
                end
                return false
            end
            local elen = tvb(offset + 1, 1):uint()
            if offset + 2 + elen > len then
                if full then
                    local item = container():add(tvb(offset, len - offset),
                        control_ext_types[etype] or ("Extension " .. etype))
                    item:add_proto_expert_info(ef.truncated, string.format(
                        "Length %d, only %d bytes remain", elen, len - offset - 2))
                end
                return false
            end
            if etype == 138 then
                add_lla(container(), tvb, offset, elen, LF, ef, pinfo,
                    "Link-Layer Address extension (138)")
            elseif full then
                local item = container():add(tvb(offset, 2 + elen),
                    control_ext_types[etype] or ("Extension " .. etype))
                item:add(LF.ext_type, tvb(offset, 1))
                item:add(LF.ext_length, tvb(offset + 1, 1), elen)
                if etype >= 32 and etype <= 34 and elen >= 4 then
                    -- RFC 5944 section 3.5.1: SPI (4) | Authenticator
                    item:add(hf.auth_spi, tvb(offset + 2, 4))
                    if elen > 4 then
                        item:add(hf.auth_authenticator, tvb(offset + 6, elen - 4))
                    end
                elseif elen > 0 then
                    item:add(hf.ext_data, tvb(offset + 2, elen))
                end
            end
            offset = offset + 2 + elen
        end
    end
    return true
end

local function dissect_handoff(tvb, pinfo, tree)
    local len = tvb:len()
    local mtype = tvb(0, 1):uint()
    local is_reply = mtype == 17
    pinfo.cols.protocol = "MIP4LL"
    local root = tree:add(mip4ll, tvb(), message_types[mtype])
    root:add(hf.type, tvb(0, 1))
    if len < FIXED_SIZE then
        root:add_proto_expert_info(ef.truncated, string.format(
            "%s needs %d bytes, has %d", message_types[mtype], FIXED_SIZE, len))
        pinfo.cols.info = message_types[mtype] .. " [truncated]"
        return len
    end

    local flags = tvb(1, 1):uint()
    local flag_item = root:add(hf.flags, tvb(1, 1))
    for _, f in ipairs({ hf.flag_h, hf.flag_n, hf.flag_r, hf.flag_m, hf.flag_g, hf.flag_t,
        hf.flag_b, hf.flag_x }) do
        flag_item:add(f, tvb(1, 1))
    end
    local letters = {}
    for i, letter in ipairs({ "H", "N", "R", "M", "G", "T", "B" }) do
        if bit(flags, 2 ^ (8 - i)) then letters[#letters + 1] = letter end
    end
    flag_item:append_text(" (" .. (#letters > 0 and table.concat(letters, " ") or "none") .. ")")
    if bit(flags, 0x01) then
        flag_item:add_proto_expert_info(ef.reserved, "reserved flag bit 0x01 is set")
    end

    local variant = variant_of(flags)
    local vitem = root:add(hf.variant, tvb(1, 1), variant or "none")
    vitem:set_generated()
    if variant then
        vitem:append_text(" [" .. variant_names[variant] .. "]")
    else
        vitem:add_proto_expert_info(ef.variant)
    end

    local code = 0
    if is_reply then
        local r = root:add(hf.reserved, tvb(2, 1))
        if tvb(2, 1):uint() ~= 0 then r:add_proto_expert_info(ef.reserved) end
        code = tvb(3, 1):uint()
        root:add(hf.code, tvb(3, 1))
    else
        local r = root:add(hf.reserved, tvb(2, 2))
        if tvb(2, 2):uint() ~= 0 then r:add_proto_expert_info(ef.reserved) end
    end

    local lifetime = tvb(4, 2):uint()
    local litem = root:add(hf.lifetime, tvb(4, 2))
    if lifetime == 0xFFFF then
        litem:append_text(" (infinity)")
    elseif lifetime == 0 then
        local meaning = "no tunnel / refused / terminate"
        if variant == "r" then
            meaning = is_reply and "tunnel terminated" or "terminate the tunnel"
        elseif variant == "s" then
            meaning = "no tunnel"
        elseif variant == "t" then
            meaning = is_reply and "refused" or "no reverse tunnel requested"
        end
        litem:append_text(" (" .. meaning .. ")")
    else
        litem:append_text(" seconds")
    end
    if is_reply and code ~= 0 then
        litem:append_text(" [ignored: the handoff failed]")
    end
    local r2 = root:add(hf.reserved, tvb(6, 2))
    if tvb(6, 2):uint() ~= 0 then r2:add_proto_expert_info(ef.reserved) end
    root:add(hf.homeaddr, tvb(8, 4))
    root:add(hf.haaddr, tvb(12, 4))
    root:add(hf.ident, tvb(16, 8))

    local label = (is_reply and "HRply" or "HRqst")
    if variant == "htt" then
        label = "HTT " .. (is_reply and "reply" or "request")
    elseif variant then
        label = label .. "(" .. variant .. ")"
    end
    root:append_text(", " .. label)
    local info = string.format("%s %s lifetime=%d", message_types[mtype], label, lifetime)
    if is_reply then info = info .. " code=" .. code end
    pinfo.cols.info = info .. string.format(" HoA=%s HA=%s", tostring(tvb(8, 4):ipv4()),
        tostring(tvb(12, 4):ipv4()))

    if len > FIXED_SIZE then
        dissect_extensions(tvb, pinfo, root, FIXED_SIZE, true)
    end
    return len
end

local stock_mip = Dissector.get("mip")

-- Fixed-part sizes of the registration messages whose LLA 138 we decode next to "mip".
local registration_fixed = { [1] = 24, [3] = 20, [18] = 24, [19] = 20 }

function mip4ll.dissector(tvb, pinfo, tree)
    local len = tvb:len()
    if len == 0 then return 0 end
    local mtype = tvb(0, 1):uint()
    if mtype == 16 or mtype == 17 then
        return dissect_handoff(tvb, pinfo, tree)
    end
    local consumed = stock_mip:call(tvb, pinfo, tree)
    local fixed = registration_fixed[mtype]
    if fixed and len > fixed then
        dissect_extensions(tvb, pinfo, tree, fixed, false)
    end
    return consumed
end

-- Replace the stock handler on UDP 434; it stays reachable as "mip" for the other types.
DissectorTable.get("udp.port"):add(434, mip4ll)

-- ------------------------------------------------------------------------ ICMP 9 / 10

local f_icmp = Field.new("icmp")

local function dissect_rd_lla(t, pinfo, tree)
    local len = t:len()
    if len < 8 then return end
    local itype = t(0, 1):uint()
    local offset
    if itype == 9 then
        -- RFC 5944 section 2.1: extensions follow 8 + 4 * Num Addrs * Addr Entry Size bytes
        offset = 8 + 4 * t(4, 1):uint() * t(5, 1):uint()
    elseif itype == 10 then
        offset = 8 -- RFC 1256: receivers ignore bytes after the first 8 (RFC 4881 PrRtSol)
    else
        return
    end
    local root = nil
    local function container()
        if root == nil then
            root = tree:add(mip4ll_rd, t(offset, len - offset))
            root:append_text(itype == 9 and " (Agent Advertisement / PrRtAdv)"
                or " (Agent Solicitation / PrRtSol)")
        end
        return root
    end
    while offset < len do
        local etype = t(offset, 1):uint()
        if etype == 0 then
            offset = offset + 1
        else
            if offset + 2 > len then
                container():add_proto_expert_info(rd_ef.truncated,
                    string.format("extension %d has no Length byte", etype))
                return
            end
            local elen = t(offset + 1, 1):uint()
            if offset + 2 + elen > len then
                local item = container():add(t(offset, len - offset),
                    rd_ext_types[etype] or ("Extension " .. etype))
                item:add_proto_expert_info(rd_ef.truncated, string.format(
                    "Length %d, only %d bytes remain", elen, len - offset - 2))
                return
            end
            if etype == 140 then
                add_lla(container(), t, offset, elen, RF, rd_ef, pinfo,
                    "Link-Layer Address extension (140)")
            end
            offset = offset + 2 + elen
        end
    end
end

function mip4ll_rd.dissector(tvb, pinfo, tree)
    local icmps = { f_icmp() }
    for _, fi in ipairs(icmps) do
        local range = fi.range
        if range ~= nil and range:len() >= 8 then
            dissect_rd_lla(range:tvb(), pinfo, tree)
        end
    end
end

register_postdissector(mip4ll_rd)
