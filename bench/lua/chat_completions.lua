-- Non-streaming OpenAI chat completions request, the one Dateline sends
-- upstream for messages.lua (max_tokens 16): the upstream alone.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = [[{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hello, tell me about tide pools"}],"max_tokens":16}]]
