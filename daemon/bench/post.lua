-- wrk script: every request adds a new element to set "load": thread i's k-th request adds i * 10^12 + k.
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("id", threads)
end
local n = 0
function request()
    n = n + 1
    -- wrk.format takes these headers instead of wrk.headers (which hold -H flags): copy them in.
    local headers = {["Content-Type"] = "application/json"}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    return wrk.format("POST", "/v1/sets/load", headers, string.format('{"element": %d}', id * 1000000000000 + n))
end
