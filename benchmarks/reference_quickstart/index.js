// The reference that benchmarks/token_bench.py measures flipgen against: what a developer gets
// by following Smile's public Node quickstart. An express app with open CORS; each request
// creates a Smile user (which comes with its first link token) through bent, expects 201 and
// hands the token to the widget with the quickstart's three init fields.
//
//   APP_PORT=8080 OPEN_API_HOST=http://127.0.0.1:9001/v1 API_KEY=key API_SECRET=secret node index.js
//
// POST /api/link-token {"site": "<slug>"} answers like flipgen's endpoint does, so one load
// generator script drives both servers.
"use strict";

const express = require("express");
const cors = require("cors");
const bent = require("bent");

const port = Number(process.env.APP_PORT || 8080);
const upstream = process.env.OPEN_API_HOST || "http://127.0.0.1:9001/v1";
const credentials = `${process.env.API_KEY || "key"}:${process.env.API_SECRET || "secret"}`;
const authorization = "Basic " + Buffer.from(credentials).toString("base64");

const app = express();
app.use(cors());
app.use(express.json());

app.post("/api/link-token", async (req, res, next) => {
  if (typeof req.body?.site !== "string") {
    res.status(400).json({ error: "site is required" });
    return;
  }
  try {
    // As in the quickstart, the client is made per request.
    const post = bent(upstream, "POST", "json", 201);
    const created = await post("/users", {}, { Authorization: authorization });
    const token = created.data.token;
    res.json({
      userToken: token.accessToken,
      userId: created.data.user.id,
      expiresAt: token.expiresAt,
      topProviders: [],
      providers: [],
      enableUpload: false,
    });
  } catch (err) {
    next(err);
  }
});

app.listen(port, "127.0.0.1", () => console.log(`reference quickstart on http://127.0.0.1:${port}`));
