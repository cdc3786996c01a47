-- attack: an odd spelling of %timeout (spaces, tab) combined with %isolate
-- expect: error UsageError /at most 600 s/
-- magic: isolate
-- magic:    timeout	7200
while true do end
