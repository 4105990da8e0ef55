-- send.lua - wrk script: POST realistic template sends to wa-mock, cycling
-- through N distinct recipients (prebuilt requests, so wrk spends its time
-- on the socket, not on Lua string building). Every request carries a
-- distinct-looking biz_opaque_callback_data like the engine's.
-- Env: WAMOCK_RECIPIENTS (10000), WAMOCK_TOKEN (bench-token),
--      WAMOCK_PATH (/v25.0/110000000000001/messages)
local n = tonumber(os.getenv("WAMOCK_RECIPIENTS") or "10000")
local token = os.getenv("WAMOCK_TOKEN") or "bench-token"
local path = os.getenv("WAMOCK_PATH") or "/v25.0/110000000000001/messages"
local reqs = {}
local i = 0

function init(args)
  local hdr = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }
  for k = 1, n do
    local to = string.format("+39335%07d", k)
    local body = '{"messaging_product":"whatsapp","recipient_type":"individual",' ..
      '"to":"' .. to .. '","type":"template","template":{"name":"notice",' ..
      '"language":{"code":"it"},"components":[{"type":"body","parameters":' ..
      '[{"type":"text","text":"Allerta meteo arancione: scuole chiuse domani, ' ..
      'lunedi 13 ottobre, in tutto il territorio comunale."}]}]},' ..
      '"biz_opaque_callback_data":"n=17;s=' .. k .. '"}'
    reqs[k] = wrk.format("POST", path, hdr, body)
  end
  i = math.random(n) - 1
end

function request()
  i = i % n + 1
  return reqs[i]
end
