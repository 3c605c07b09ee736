-- wrk script: every request adds a new element to set "load" (a counter of this thread and a random prefix).
local n = 0
local prefix = math.random(1, 1000000000)
request = function()
    n = n + 1
    return wrk.format("POST", "/v1/sets/load", {["Content-Type"] = "application/json"},
        string.format('{"element": %d}', prefix * 1000000 + n))
end
