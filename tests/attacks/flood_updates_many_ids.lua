-- attack: display updates spread over tens of thousands of display ids (coalescing by id must stay bounded and within the message limit)
-- expect: value "done"
for i = 1, 30000 do display.html("u", {id = "id" .. i, update = true}) end
return "done"
