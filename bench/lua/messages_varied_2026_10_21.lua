-- As messages_varied.lua, under 2026-10-21: every body validated afresh, with that version's rules.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-api-key"] = "sk-ant-bench-key"
wrk.headers["anthropic-version"] = "2026-10-21"
wrk.body = [[{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"Hello, tell me about tide pools 0"}]}]]

local counter = 0

request = function()
   counter = counter + 1
   local body = string.format(
      [[{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"Hello, tell me about tide pools %d"}]}]],
      counter)
   return wrk.format(nil, nil, nil, body)
end
