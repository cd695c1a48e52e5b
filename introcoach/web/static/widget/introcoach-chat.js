/*
 * IntroCoach chat widget: plain script, no build step, no external URLs. Embed:
 *   <script src="/static/widget/introcoach-chat.js" data-token-url="..." data-history-url="..." defer></script>
 * All text goes in via textContent and score-bar widths via the CSSOM, so it
 * runs under a strict CSP (no style attributes, no innerHTML).
 */
(function () {
  "use strict";

  const VERSION = "1";
  const TYPING_TIMEOUT_MS = 20000;
  const PAUSE_SUMMARY_MS = 1500;
  const MAX_CHARS = 2000;
  const WORDS_PER_MINUTE = 150;
  const HINT = { title: "Hint, please", payload: "/ask_hint" };
  const CARD_ACTIONS = [
    { title: "Try again", payload: "/practice_pitch" },
    { title: "Meet someone else", payload: "/switch_persona" },
  ];
  const SPEAKERS = ["trainee", "persona", "narrator", "coach"];
  const EXPIRED = "Your practice session has expired — reload the page";
  const UNREACHABLE = "Can't reach IntroCoach";
  const NO_REPLY = "No reply yet — the coach may be busy. Try sending again.";

  // Captured now: document.currentScript is null once this script has run.
  const SCRIPT = document.currentScript;
  const SCRIPT_SRC = SCRIPT && SCRIPT.src ? SCRIPT.src : new URL("/static/widget/introcoach-chat.js", location.href).href;

  /* ---------- small helpers ---------- */

  /** Build an element; text always goes in as textContent, never as markup. */
  function el(tag, className, text, attrs) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const name in attrs || {}) node.setAttribute(name, attrs[name]);
    return node;
  }

  const srOnly = (text) => el("span", "ic-sr", text);
  const pad = (n) => String(n).padStart(2, "0");
  const timeElement = (date) =>
    el("time", "ic-time", pad(date.getHours()) + ":" + pad(date.getMinutes()), { datetime: date.toISOString() });

  /** Unix seconds (live events) or an ISO string (history) to a Date, else null. */
  function parseTime(value) {
    let date = null;
    if (typeof value === "number") date = new Date(value * 1000);
    else if (typeof value === "string" && value) date = new Date(value);
    return date && !isNaN(date.getTime()) ? date : null;
  }

  const wordCount = (text) => (text.trim() ? text.trim().split(/\s+/).length : 0);
  const humanize = (id) => String(id || "").replace(/_/g, " ").trim().replace(/^./, (c) => c.toUpperCase());
  const clampScore = (value) => (Number.isFinite(Number(value)) ? Math.max(0, Math.min(100, Math.round(value))) : 0);
  const band = (score) => (score >= 75 ? "good" : score >= 50 ? "mid" : "low");
  const strings = (list) => (Array.isArray(list) ? list.filter((s) => typeof s === "string" && s.trim()) : []);
  const isText = (value) => typeof value === "string" && value !== "";

  // Unknown or missing speakers are the coach's (Rasa's stock messages have none).
  const normalizeSpeaker = (value) => (SPEAKERS.indexOf(value) !== -1 ? value : "coach");

  const normalizeButtons = (list) =>
    (Array.isArray(list) ? list : [])
      .filter((b) => b && isText(b.payload))
      .map((b) => ({ title: isText(b.title) ? b.title : b.payload, payload: b.payload }));

  /** A history item or bot_uttered event (Rasa's stock shapes too) as one message. */
  function toMessage(data, defaultTime) {
    if (typeof data === "string") data = { text: data };
    if (!data || typeof data !== "object") return null;
    let custom = data.custom && typeof data.custom === "object" ? data.custom : null;
    // Rasa's stock channel emits custom JSON as the whole event.
    if (!custom && isText(data.type) && data.type.indexOf("introcoach.") === 0) custom = data;
    return {
      speaker: normalizeSpeaker(data.speaker),
      text: isText(data.text) ? data.text : "",
      buttons: normalizeButtons(data.buttons).concat(normalizeButtons(data.quick_replies)),
      custom: custom,
      time: parseTime(data.timestamp) || defaultTime,
    };
  }

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status; // 0: never reached the server
    }
  }

  /** GET a JSON object; throws HttpError carrying the server's "error" text. */
  async function getJson(url) {
    let res;
    try {
      res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (err) {
      throw new HttpError(0, UNREACHABLE);
    }
    const body = await res.json().catch(() => null); // null: e.g. an HTML login page
    if (!res.ok) {
      const text = body && isText(body.error) ? body.error : UNREACHABLE + " (" + res.status + ")";
      throw new HttpError(res.status, text);
    }
    if (!body || typeof body !== "object") throw new HttpError(res.status, UNREACHABLE);
    return body;
  }

  // The web app's answer for "this trainee may not have this chat": final, no retry.
  const isDenied = (err) => err instanceof HttpError && [401, 403, 404].indexOf(err.status) !== -1;

  /* ---------- configuration and assets ---------- */

  function readConfig() {
    const global = window.IntroCoachConfig;
    const base = global && typeof global === "object" ? global : {};
    const data = SCRIPT ? SCRIPT.dataset : {};
    // The tag's own attributes are the more specific setting, so they win.
    const pick = (key) => (data[key] ? data[key] : base[key]);
    return {
      tokenUrl: pick("tokenUrl"),
      historyUrl: pick("historyUrl"),
      mount: pick("mount"),
      rasaUrl: pick("rasaUrl"),
      mode: pick("mode"),
      socketioSrc: pick("socketioSrc") || new URL("../vendor/socket.io.min.js", SCRIPT_SRC).href,
    };
  }

  function injectStylesheet() {
    for (const link of document.querySelectorAll('link[rel~="stylesheet"]')) {
      if (link.href.split("?")[0].endsWith("/introcoach-chat.css")) return;
    }
    document.head.appendChild(el("link", null, null, { rel: "stylesheet", href: new URL("introcoach-chat.css", SCRIPT_SRC).href }));
  }

  let ioPromise = null;
  function loadSocketIo(src) {
    if (typeof window.io === "function") return Promise.resolve(window.io);
    if (!ioPromise) {
      ioPromise = new Promise((resolve, reject) => {
        const tag = el("script", null, null, { src: src });
        tag.onload = () => (typeof window.io === "function" ? resolve(window.io) : reject(new Error("no io() in " + src)));
        tag.onerror = () => reject(new Error("could not load " + src));
        document.head.appendChild(tag);
      }).catch((err) => {
        ioPromise = null; // let Retry inject it again
        throw err;
      });
    }
    return ioPromise;
  }

  function findMount(selector) {
    try {
      return selector ? document.querySelector(selector) : null;
    } catch (err) {
      console.warn("IntroCoach: invalid mount selector", selector);
      return null;
    }
  }

  /* ---------- the widget ---------- */

  let instances = 0;

  function createWidget(config) {
    const ui = buildUi("ic-" + ++instances);
    const mount = findMount(config.mount);
    if (mount) mount.appendChild(ui.root);
    else {
      ui.root.classList.add("ic-floating");
      document.body.appendChild(ui.root);
    }

    let socket = null;
    let session = null; // the latest token response
    let unusedToken = null; // the boot token, reused for the first connect only
    let tokenDenial = null; // why the last token request was refused
    let persona = null;
    let mode = config.mode || null;
    let confirmedOnce = false;
    let ready = false; // connected and session confirmed
    let loadingHistory = false;
    let liveDuringHistory = [];
    let fatal = false;
    let typingTimer = null;
    let pauseTimer = null;
    let buttonGroups = [];
    const queue = []; // {payload, shown, metadata} to send once online
    // Emitted but not yet acknowledged by the server. The server closes a socket
    // whose token expired (or was revoked) and acknowledges nothing it did not
    // take, so on a disconnect these go back to the front of the queue and are
    // sent again over the next socket, with its fresh token.
    let inflight = [];
    // Payload -> title, so history shows "Hint, please" rather than "/ask_hint".
    const titles = new Map([HINT].concat(CARD_ACTIONS).map((a) => [a.payload, a.title]));

    /* state, status, notices */

    const setState = (value) => (ui.root.dataset.state = value);
    const setStatus = (text) => (ui.status.textContent = text);
    const scrollToEnd = () => (ui.log.scrollTop = ui.log.scrollHeight);

    function notice(text, alert, retry) {
      const node = el("div", "ic-notice" + (alert ? " ic-notice-alert" : ""), null, alert ? { role: "alert" } : null);
      node.appendChild(el("p", "ic-notice-text", text));
      if (retry) {
        const button = el("button", "ic-btn ic-retry", "Retry", { type: "button" });
        button.addEventListener("click", () => {
          node.remove();
          boot();
        });
        node.appendChild(button);
      }
      ui.log.appendChild(node);
      scrollToEnd();
    }

    function dropSocket() {
      if (!socket) return;
      socket.off();
      socket.disconnect();
      socket = null;
    }

    /** Stop for good: the server said no. The log stays readable. */
    function fail(text) {
      fatal = true;
      ready = false;
      stopTyping();
      setState("error");
      setStatus(text);
      notice(text, true, false);
      setComposerEnabled(false);
      dropSocket();
    }

    function unreachable() {
      setState("error");
      setStatus(UNREACHABLE);
      notice(UNREACHABLE, true, true);
    }

    /* header, mode, typing indicator */

    function setPersona(p) {
      if (!p || typeof p !== "object") return;
      persona = p;
      const name = isText(p.name) ? p.name : "";
      ui.avatar.textContent = p.initials || name.charAt(0);
      ui.name.textContent = name || "IntroCoach";
      ui.role.textContent = [p.role, p.organization].filter(Boolean).join(" · ");
      ui.typingText.textContent = (name || "IntroCoach") + " is typing…";
    }

    function setMode(value) {
      mode = config.mode || value || mode;
      ui.count.hidden = mode !== "pitch";
      updateCount();
    }

    function startTyping() {
      ui.typing.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => {
        ui.typing.hidden = true;
        notice(NO_REPLY, false, false);
      }, TYPING_TIMEOUT_MS);
    }

    function stopTyping() {
      clearTimeout(typingTimer);
      ui.typing.hidden = true;
    }

    /* messages */

    // Once the trainee has answered, older suggestions answer nothing: disable
    // them, except those inside `keep` (the latest message).
    function disableButtonGroups(keep) {
      const stale = buttonGroups.filter((group) => !(keep && keep.contains(group)));
      for (const group of stale) for (const b of group.querySelectorAll("button")) b.disabled = true;
      buttonGroups = buttonGroups.filter((group) => stale.indexOf(group) === -1);
    }

    function renderButtons(buttons, extraClass) {
      const group = el("div", "ic-buttons " + (extraClass || ""), null, { role: "group", "aria-label": "Suggested replies" });
      for (const b of buttons) {
        titles.set(b.payload, b.title);
        const button = el("button", "ic-btn ic-quick", b.title, { type: "button" });
        button.addEventListener("click", () => {
          if (button.disabled) return;
          sendUser(b.payload, b.title); // disables this group via the trainee bubble
          ui.input.focus();
        });
        group.appendChild(button);
      }
      buttonGroups.push(group);
      return group;
    }

    function speakerLabel(speaker) {
      if (speaker === "persona") return el("span", "ic-speaker", (persona && persona.name) || "Persona");
      if (speaker === "coach") return el("span", "ic-speaker", "Coach");
      return srOnly(speaker === "trainee" ? "You" : "Scene");
    }

    /** Append one message; returns its body element (for "sending…") or null. */
    function renderMessage(msg) {
      const custom = msg.custom;
      let speaker = normalizeSpeaker(msg.speaker);
      if (custom && custom.type === "introcoach.persona") {
        setPersona(custom.persona);
        speaker = "narrator";
      }
      const isCard = !!(custom && custom.type === "introcoach.feedback");
      let buttons = msg.buttons || [];
      if (isCard) {
        // The card brings its own actions; do not offer them twice.
        const own = CARD_ACTIONS.map((a) => a.payload);
        buttons = buttons.filter((b) => own.indexOf(b.payload) === -1);
      }
      if (!msg.text && !isCard && !buttons.length) return null;
      if (speaker === "trainee") disableButtonGroups();

      const row = el("div", "ic-msg ic-msg-" + speaker);
      if (speaker === "persona") row.appendChild(el("span", "ic-avatar", (persona && persona.initials) || "", { "aria-hidden": "true" }));
      const body = el("div", "ic-msg-body");
      const meta = el("div", "ic-meta");
      meta.appendChild(speakerLabel(speaker));
      if (msg.time && speaker !== "narrator") meta.appendChild(timeElement(msg.time));
      body.appendChild(meta);
      // With a card, the plain-text report in the same message would repeat it.
      if (isCard) body.appendChild(renderCard(custom));
      else if (msg.text) body.appendChild(el("div", "ic-bubble", msg.text));
      if (buttons.length) body.appendChild(renderButtons(buttons));
      row.appendChild(body);
      ui.log.appendChild(row);
      scrollToEnd();
      return body;
    }

    function renderTrainee(shown, pending) {
      const body = renderMessage({ speaker: "trainee", text: shown, buttons: [], custom: null, time: new Date() });
      if (body && pending) body.appendChild(el("span", "ic-pending", "sending…"));
    }

    /* feedback card */

    function cardList(card, heading, items, className) {
      if (!items.length) return;
      card.appendChild(el("h4", "ic-card-heading", heading));
      const list = el("ul", "ic-list " + className);
      for (const item of items) list.appendChild(el("li", null, item));
      card.appendChild(list);
    }

    function renderCriterion(c) {
      const met = !!c.met;
      const item = el("li", "ic-crit " + (met ? "ic-crit-met" : "ic-crit-missed"));
      item.appendChild(el("span", "ic-crit-icon", met ? "✓" : "✗", { "aria-hidden": "true" }));
      item.appendChild(srOnly(met ? "Met: " : "Missed: "));
      const text = el("span", "ic-crit-text");
      text.appendChild(el("span", "ic-crit-label", isText(c.label) ? c.label : humanize(c.id)));
      if (isText(c.evidence) && c.evidence.trim()) {
        const evidence = el("span", "ic-evidence", "In your words: ");
        evidence.appendChild(el("q", null, c.evidence));
        text.appendChild(evidence);
      }
      item.appendChild(text);
      return item;
    }

    function renderStrategy(s) {
      const score = clampScore(s.score);
      const block = el("div", "ic-strategy");
      const head = el("h4", "ic-strategy-title");
      head.appendChild(el("span", null, "Strategy " + s.number + ": " + (s.title || humanize(s.id))));
      head.appendChild(el("span", "ic-strategy-score", score + " / 100", { "aria-hidden": "true" }));
      block.appendChild(head);
      const bar = el("div", "ic-bar", null, { role: "img", "aria-label": score + " out of 100" });
      const fill = el("div", "ic-bar-fill ic-band-" + band(score));
      fill.style.setProperty("width", score + "%"); // CSSOM: allowed under style-src 'self'
      bar.appendChild(fill);
      block.appendChild(bar);
      const criteria = Array.isArray(s.criteria) ? s.criteria.filter((c) => c && typeof c === "object") : [];
      if (criteria.length) {
        const list = el("ul", "ic-criteria");
        for (const c of criteria) list.appendChild(renderCriterion(c));
        block.appendChild(list);
      }
      return block;
    }

    // custom.persona is the persona's id in today's payload; accept a name if sent.
    function cardPersonaName(custom) {
      if (custom.persona && typeof custom.persona === "object" && isText(custom.persona.name)) return custom.persona.name;
      if (isText(custom.persona_name)) return custom.persona_name;
      return (persona && persona.name) || "they";
    }

    function renderCard(custom) {
      const card = el("section", "ic-card", null, { "aria-label": "Feedback" });
      const overall = clampScore(custom.overall);
      const title = el("h3", "ic-overall ic-band-text-" + band(overall), "Overall ");
      title.append(el("strong", "ic-overall-score", overall), " / 100");
      card.appendChild(title);
      if (isText(custom.comparison)) card.appendChild(el("p", "ic-comparison", custom.comparison));
      for (const s of Array.isArray(custom.strategies) ? custom.strategies : []) {
        if (s && typeof s === "object") card.appendChild(renderStrategy(s));
      }
      cardList(card, "What worked", strings(custom.what_worked), "ic-worked");
      cardList(card, "Tips", strings(custom.top_tips), "ic-tips");
      if (isText(custom.stretch_goal)) {
        card.appendChild(el("h4", "ic-card-heading", "Stretch goal"));
        card.appendChild(el("p", "ic-stretch", custom.stretch_goal));
      }
      const heading = "Things " + cardPersonaName(custom) + " cares about you didn't find:";
      cardList(card, heading, strings(custom.undiscovered_interests), "ic-undiscovered");
      card.appendChild(renderButtons(CARD_ACTIONS, "ic-card-actions"));
      return card;
    }

    /* history */

    function renderHistoryItem(msg) {
      if (msg.speaker !== "trainee") return renderMessage(msg);
      const start = session && session.start && session.start.message;
      if (msg.text === start || msg.text.indexOf("/session_start") === 0) return null; // sent by the widget
      // Buttons and Hint send payloads; show what the trainee clicked instead.
      const text = msg.text.charAt(0) === "/" && titles.has(msg.text) ? titles.get(msg.text) : msg.text;
      return renderMessage(Object.assign({}, msg, { text: text, buttons: [] }));
    }

    /** Replace the log with the server's history. Returns the message count, or null. */
    async function loadHistory() {
      let data;
      loadingHistory = true;
      liveDuringHistory = [];
      try {
        data = await getJson(config.historyUrl);
      } catch (err) {
        loadingHistory = false;
        if (isDenied(err)) fail(err.message);
        else notice("Couldn't load the conversation so far.", true, false);
        flushLiveDuringHistory([]);
        return null;
      }
      const messages = (Array.isArray(data.messages) ? data.messages : []).map((m) => toMessage(m, null)).filter(Boolean);
      // aria-busy: screen readers should not re-read the whole history as additions.
      ui.log.setAttribute("aria-busy", "true");
      ui.log.textContent = "";
      buttonGroups = [];
      if (session && session.persona) setPersona(session.persona);
      for (const msg of messages) renderHistoryItem(msg);
      // History leaves out button presses, so only the latest message keeps its buttons.
      disableButtonGroups(ui.log.lastElementChild);
      ui.log.removeAttribute("aria-busy");
      loadingHistory = false;
      flushLiveDuringHistory(messages.slice(-5));
      scrollToEnd();
      return messages.length;
    }

    // Bot messages that arrived while history loaded: keep those it does not end with.
    function flushLiveDuringHistory(tail) {
      const key = (m) => m.speaker + "\u0000" + m.text;
      const seen = tail.map(key);
      for (const msg of liveDuringHistory) if (seen.indexOf(key(msg)) === -1) renderMessage(msg);
      liveDuringHistory = [];
    }

    /* sending */

    function emitUser(item) {
      const data = { message: item.payload, session_id: session.sender_id, metadata: item.metadata || {} };
      inflight.push(item);
      // {ok: true}: handled. {ok: false}: refused for good (an introcoach_error
      // says why). {ok: false, retry: true}: not taken, the socket is closing.
      socket.emit("user_uttered", data, (ack) => {
        if (ack && ack.retry) return; // requeued when the disconnect comes
        inflight = inflight.filter((other) => other !== item);
      });
      startTyping();
    }

    function sendUser(payload, shown) {
      if (fatal) return;
      const online = ready && socket && socket.connected;
      renderTrainee(shown, !online);
      const item = { payload: payload, shown: shown };
      // Offline: keep our own queue. socket.io would buffer the emit too, and
      // the re-rendered history could then not tell what was really sent.
      if (online) emitUser(item);
      else queue.push(item);
    }

    function flushQueue() {
      for (const mark of ui.log.querySelectorAll(".ic-pending")) mark.remove();
      while (queue.length) emitUser(queue.shift());
    }

    /** Messages the last socket did not acknowledge: send them again, first. */
    function requeueInflight() {
      if (!inflight.length) return;
      queue.unshift(...inflight);
      inflight = [];
    }

    /* socket */

    /** A token for each (re)connect: tokens expire, so never reuse an old one. */
    async function freshToken() {
      if (unusedToken) {
        const token = unusedToken;
        unusedToken = null;
        return token;
      }
      try {
        const data = await getJson(config.tokenUrl);
        applySession(data);
        tokenDenial = null;
        return data.token;
      } catch (err) {
        if (isDenied(err)) {
          tokenDenial = err.message; // shown when the server refuses the socket
          return null;
        }
        return session && session.token; // web app unreachable: it may still be valid
      }
    }

    function applySession(data) {
      session = data;
      if (data.persona && !persona) setPersona(data.persona);
      setMode(data.mode);
    }

    async function onConfirm() {
      const first = !confirmedOnce;
      confirmedOnce = true;
      const count = await loadHistory();
      if (fatal || !socket) return;
      for (const item of queue) renderTrainee(item.shown, true); // the history replaced them
      ready = socket.connected;
      if (!ready) return; // lost again while loading; the next confirm retries
      setState("ready");
      // No history yet: a new conversation. On a failed history load (null) do
      // not send it, it would restart a conversation that may exist.
      if (first && count === 0 && session.start && session.start.message) {
        emitUser({ payload: session.start.message, shown: null, metadata: session.start.metadata });
      }
      flushQueue();
    }

    function onBotUttered(data) {
      const msg = toMessage(data, new Date());
      if (!msg) return;
      stopTyping();
      if (loadingHistory) liveDuringHistory.push(msg);
      else renderMessage(msg);
    }

    function onConnectError(err) {
      const message = String((err && err.message) || "");
      // A refusal by the server is final for socket.io (socket.active is false).
      if (/token|unauthori[sz]ed/i.test(message) || (socket && !socket.active)) {
        fail(tokenDenial || EXPIRED);
        return;
      }
      setState("connecting");
      setStatus("Reconnecting…");
    }

    function connectSocket() {
      socket = window.io(config.rasaUrl || session.rasa_url, {
        path: session.socket_path || "/socket.io",
        transports: ["websocket", "polling"],
        reconnection: true,
        auth: (cb) => {
          freshToken().then((token) => cb({ token: token }));
        },
      });
      socket.on("connect", () => {
        setStatus("Connected");
        socket.emit("session_request", { session_id: session.sender_id });
      });
      socket.on("session_confirm", () => {
        onConfirm().catch((err) => console.warn("IntroCoach: could not restore the chat", err));
      });
      socket.on("bot_uttered", onBotUttered);
      socket.on("introcoach_error", (data) => {
        stopTyping();
        notice((data && data.message) || "Something went wrong.", true, false);
      });
      socket.on("connect_error", onConnectError);
      socket.on("disconnect", (reason) => {
        ready = false;
        requeueInflight();
        stopTyping();
        setState("connecting");
        setStatus("Connection lost — reconnecting…");
        // The server hung up on purpose: socket.io leaves reconnecting to us.
        if (reason === "io server disconnect" && socket) socket.connect();
      });
    }

    /* composer */

    function setComposerEnabled(on) {
      ui.input.disabled = ui.hint.disabled = !on;
      updateSend();
    }
    const updateSend = () => (ui.send.disabled = ui.input.disabled || !ui.input.value.trim());

    function updateCount() {
      if (mode !== "pitch") return;
      const n = wordCount(ui.input.value);
      const seconds = Math.round((n / WORDS_PER_MINUTE) * 60);
      const line = n + (n === 1 ? " word" : " words") + " · about " + seconds + " seconds spoken";
      ui.count.textContent = line;
      // One polite summary when the trainee pauses, not one per keystroke.
      clearTimeout(pauseTimer);
      pauseTimer = setTimeout(() => (ui.countSummary.textContent = n ? line : ""), PAUSE_SUMMARY_MS);
    }

    function submit() {
      const text = ui.input.value.trim();
      if (!text || fatal) return;
      ui.input.value = "";
      updateSend();
      updateCount();
      sendUser(text, text);
      ui.input.focus();
    }

    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
    ui.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    });
    ui.input.addEventListener("input", () => {
      updateSend();
      updateCount();
    });
    ui.hint.addEventListener("click", () => {
      sendUser(HINT.payload, HINT.title);
      ui.input.focus();
    });

    /* start */

    async function boot() {
      dropSocket();
      fatal = false;
      setState("connecting");
      setStatus("Connecting…");
      setComposerEnabled(true);
      if (!config.tokenUrl || !config.historyUrl) {
        console.warn("IntroCoach: data-token-url and data-history-url are required");
        fail("The chat is not set up on this page.");
        return;
      }
      try {
        const data = await getJson(config.tokenUrl);
        applySession(data);
        unusedToken = data.token;
        await loadSocketIo(config.socketioSrc);
      } catch (err) {
        if (isDenied(err)) return fail(err.message);
        if (!(err instanceof HttpError)) console.warn("IntroCoach:", err.message);
        return unreachable();
      }
      connectSocket();
    }

    setMode(mode);
    boot();
  }

  /* ---------- DOM skeleton ---------- */

  function buildUi(uid) {
    const root = el("section", "ic-chat", null, { "aria-label": "Practice chat", "data-state": "connecting" });

    const header = el("div", "ic-header");
    const avatar = el("span", "ic-avatar ic-avatar-lg", null, { "aria-hidden": "true" });
    const who = el("div", "ic-who");
    const name = el("p", "ic-persona-name", "IntroCoach");
    const role = el("p", "ic-persona-role");
    who.append(name, role);
    header.append(avatar, who);

    const status = el("p", "ic-status", "Connecting…", { role: "status" });
    // tabindex: a scrollable region must be reachable by keyboard.
    const log = el("div", "ic-log", null, {
      role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": "Conversation", tabindex: "0",
    });

    const typing = el("div", "ic-typing", null, { hidden: "" });
    const typingText = el("span", "ic-typing-text", "IntroCoach is typing…");
    const dots = el("span", "ic-dots", null, { "aria-hidden": "true" });
    dots.append(el("span"), el("span"), el("span"));
    typing.append(typingText, dots);

    const form = el("form", "ic-composer", null, { novalidate: "" });
    const label = el("label", "ic-sr", "Your message", { for: uid + "-input" });
    const input = el("textarea", "ic-input", null, { id: uid + "-input", rows: "2", maxlength: String(MAX_CHARS) });
    const count = el("div", "ic-count", null, { "aria-live": "off", hidden: "" });
    const countSummary = el("div", "ic-sr", null, { "aria-live": "polite" });
    const actions = el("div", "ic-composer-actions");
    const hint = el("button", "ic-btn ic-hint", "Hint", { type: "button" });
    const send = el("button", "ic-btn ic-btn-primary ic-send", "Send", { type: "submit", disabled: "" });
    actions.append(hint, send);
    form.append(label, input, count, countSummary, actions);

    root.append(header, status, log, typing, form);
    return { root, avatar, name, role, status, log, typing, typingText, form, input, count, countSummary, hint, send };
  }

  function start() {
    injectStylesheet();
    createWidget(readConfig());
  }

  window.IntroCoachChat = { version: VERSION };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start, { once: true });
  else start();
})();
