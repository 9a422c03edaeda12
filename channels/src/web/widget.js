/* kefu web chat widget. Embed with
 *   <script src="https://KEFU/widget.js" data-site="SITE_KEY" async></script>
 * Optional attributes: data-user-id and data-user-hash (a logged-in shop user:
 * hex HMAC-SHA256 of the user id with the site's identity secret), data-lang (else the
 * browser's language), data-color, data-open="true".
 * No dependencies; styles are scoped under #kefu-root. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.kefuWidget) return;

  function attr(name) {
    var v = script.getAttribute(name);
    return v === null || v === "" ? null : v;
  }

  var STRINGS = {
    en: { open: "Open chat", close: "Close chat", title: "Chat with us", hint: "We usually answer at once.", input: "Message", placeholder: "Type your message…", send: "Send", track: "Track my order", human: "Talk to a person", typing: "The assistant is writing…", offline: "Connection lost. Reconnecting…", sources: "Sources", rate: "How did we do?", stars: "{n} of 5", you: "You", bot: "Assistant", staff: "Support", suggestions: "Suggestions", failed: "Not sent yet — it will be sent when the connection is back.", slow: "You are sending messages very fast. Please wait a moment.", unavailable: "Chat is unavailable right now." },
    zh: { open: "打开聊天", close: "关闭聊天", title: "在线客服", hint: "通常即时回复。", input: "消息", placeholder: "请输入消息…", send: "发送", track: "查询我的订单", human: "转人工客服", typing: "客服正在输入…", offline: "连接已断开，正在重新连接…", sources: "来源", rate: "您对本次服务满意吗？", stars: "{n} 星（满分 5 星）", you: "您", bot: "智能客服", staff: "客服", suggestions: "快捷回复", failed: "尚未发送，连接恢复后将自动发送。", slow: "发送太快了，请稍候。", unavailable: "聊天暂时不可用。" },
    "zh-Hant": { open: "開啟聊天", close: "關閉聊天", title: "線上客服", hint: "通常即時回覆。", input: "訊息", placeholder: "請輸入訊息…", send: "傳送", track: "查詢我的訂單", human: "轉真人客服", typing: "客服正在輸入…", offline: "連線中斷，正在重新連線…", sources: "來源", rate: "您對本次服務滿意嗎？", stars: "{n} 星（滿分 5 星）", you: "您", bot: "智慧客服", staff: "客服", suggestions: "快速回覆", failed: "尚未傳送，連線恢復後將自動傳送。", slow: "傳送太快了，請稍候。", unavailable: "聊天暫時無法使用。" },
    es: { open: "Abrir chat", close: "Cerrar chat", title: "Chatea con nosotros", hint: "Solemos responder al instante.", input: "Mensaje", placeholder: "Escribe tu mensaje…", send: "Enviar", track: "¿Dónde está mi pedido?", human: "Hablar con una persona", typing: "El asistente está escribiendo…", offline: "Conexión perdida. Reconectando…", sources: "Fuentes", rate: "¿Qué tal te hemos atendido?", stars: "{n} de 5", you: "Tú", bot: "Asistente", staff: "Soporte", suggestions: "Sugerencias", failed: "Aún no enviado: se enviará al volver la conexión.", slow: "Estás enviando mensajes muy rápido. Espera un momento.", unavailable: "El chat no está disponible ahora." },
    fr: { open: "Ouvrir le chat", close: "Fermer le chat", title: "Discutons", hint: "Nous répondons en général tout de suite.", input: "Message", placeholder: "Écrivez votre message…", send: "Envoyer", track: "Où est ma commande ?", human: "Parler à une personne", typing: "L’assistant écrit…", offline: "Connexion perdue. Reconnexion…", sources: "Sources", rate: "Comment nous évaluez-vous ?", stars: "{n} sur 5", you: "Vous", bot: "Assistant", staff: "Service client", suggestions: "Suggestions", failed: "Pas encore envoyé : il partira au retour de la connexion.", slow: "Vous envoyez des messages très vite. Patientez un instant.", unavailable: "Le chat est indisponible pour le moment." },
    de: { open: "Chat öffnen", close: "Chat schließen", title: "Schreiben Sie uns", hint: "Wir antworten meist sofort.", input: "Nachricht", placeholder: "Ihre Nachricht…", send: "Senden", track: "Wo ist meine Bestellung?", human: "Mit einem Menschen sprechen", typing: "Der Assistent schreibt…", offline: "Verbindung verloren. Verbinde neu…", sources: "Quellen", rate: "Wie zufrieden waren Sie?", stars: "{n} von 5", you: "Sie", bot: "Assistent", staff: "Kundenservice", suggestions: "Vorschläge", failed: "Noch nicht gesendet – wird gesendet, sobald die Verbindung zurück ist.", slow: "Sie senden sehr schnell. Bitte warten Sie einen Moment.", unavailable: "Der Chat ist gerade nicht verfügbar." },
    ja: { open: "チャットを開く", close: "チャットを閉じる", title: "チャットでお問い合わせ", hint: "通常すぐにお返事します。", input: "メッセージ", placeholder: "メッセージを入力…", send: "送信", track: "注文はどこですか？", human: "担当者と話す", typing: "アシスタントが入力中…", offline: "接続が切れました。再接続しています…", sources: "出典", rate: "今回の対応はいかがでしたか？", stars: "5 段階中 {n}", you: "あなた", bot: "アシスタント", staff: "サポート", suggestions: "候補", failed: "未送信です。接続が戻ると送信されます。", slow: "送信が速すぎます。少しお待ちください。", unavailable: "現在チャットをご利用いただけません。" },
    pt: { open: "Abrir chat", close: "Fechar chat", title: "Fale conosco", hint: "Costumamos responder na hora.", input: "Mensagem", placeholder: "Escreva sua mensagem…", send: "Enviar", track: "Onde está meu pedido?", human: "Falar com uma pessoa", typing: "O assistente está escrevendo…", offline: "Conexão perdida. Reconectando…", sources: "Fontes", rate: "Como foi o atendimento?", stars: "{n} de 5", you: "Você", bot: "Assistente", staff: "Suporte", suggestions: "Sugestões", failed: "Ainda não enviado: será enviado quando a conexão voltar.", slow: "Você está enviando mensagens muito rápido. Aguarde um momento.", unavailable: "O chat não está disponível agora." },
    ar: { open: "افتح المحادثة", close: "أغلق المحادثة", title: "تحدث معنا", hint: "نرد عادةً على الفور.", input: "رسالة", placeholder: "اكتب رسالتك…", send: "إرسال", track: "أين طلبي؟", human: "التحدث مع شخص", typing: "المساعد يكتب…", offline: "انقطع الاتصال. جارٍ إعادة الاتصال…", sources: "المصادر", rate: "كيف كانت خدمتنا؟", stars: "{n} من 5", you: "أنت", bot: "المساعد", staff: "الدعم", suggestions: "اقتراحات", failed: "لم تُرسل بعد، وستُرسل عند عودة الاتصال.", slow: "ترسل الرسائل بسرعة كبيرة. انتظر قليلاً.", unavailable: "المحادثة غير متاحة الآن." },
    he: { open: "פתיחת צ׳אט", close: "סגירת צ׳אט", title: "דברו איתנו", hint: "בדרך כלל אנחנו עונים מיד.", input: "הודעה", placeholder: "כתבו הודעה…", send: "שליחה", track: "איפה ההזמנה שלי?", human: "לדבר עם נציג", typing: "העוזר כותב…", offline: "החיבור נותק. מתחבר מחדש…", sources: "מקורות", rate: "איך היה השירות?", stars: "{n} מתוך 5", you: "את/ה", bot: "עוזר", staff: "תמיכה", suggestions: "הצעות", failed: "טרם נשלח — יישלח כשהחיבור יחזור.", slow: "את/ה שולח/ת הודעות מהר מאוד. נא להמתין רגע.", unavailable: "הצ׳אט אינו זמין כעת." }
  };
  var RTL = { ar: 1, he: 1, fa: 1, ur: 1 };
  // Messages from the customer's conversations on other channels are tagged with it.
  var CHANNELS = { telegram: "Telegram", discord: "Discord", email: "E-mail" };

  var lang = (attr("data-lang") || document.documentElement.lang || navigator.language || "en").replace("_", "-");
  var primary = lang.split("-")[0].toLowerCase();
  var key = primary === "zh" && /-(tw|hk|mo|hant)/i.test(lang) ? "zh-Hant" : primary;
  var T = STRINGS[key] || STRINGS.en;
  var rtl = !!RTL[primary];

  var cfg = {
    site: attr("data-site"),
    userId: attr("data-user-id"),
    userHash: attr("data-user-hash"),
    color: attr("data-color") || "#1f6f50"
  };
  var base = new URL(script.src, location.href);
  var wsUrl = (base.protocol === "https:" ? "wss:" : "ws:") + "//" + base.host + "/ws/widget";
  var storeKey = "kefu:" + (cfg.site || "") + ":" + (cfg.userId || "visitor");

  function load() {
    try { return JSON.parse(localStorage.getItem(storeKey)) || {}; } catch (e) { return {}; }
  }
  function save() {
    try { localStorage.setItem(storeKey, JSON.stringify({ visitor: state.visitor, pending: state.pending })); } catch (e) { /* private mode */ }
  }
  function randomId(n) {
    var a = new Uint8Array(n), s = "", abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (window.crypto || window.msCrypto).getRandomValues(a);
    for (var i = 0; i < n; i++) s += abc[a[i] % abc.length];
    return s;
  }

  var saved = load();
  var state = {
    visitor: saved.visitor || randomId(22),
    pending: saved.pending || [],   // [{id, text}] sent but not confirmed by the server
    last: 0,                        // highest message id shown
    seen: {},
    ws: null,
    retry: 0,
    open: attr("data-open") === "true",
    drafts: {}
  };
  save();

  // ----- DOM -----
  var css =
    "#kefu-root{all:initial;position:fixed;z-index:2147483000;bottom:20px;inset-inline-end:20px;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;color:#1d2a24}" +
    "#kefu-root *{box-sizing:border-box;font:inherit}" +
    "#kefu-root .kefu-bubble{width:58px;height:58px;border-radius:50%;border:0;background:" + cfg.color + ";color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center}" +
    "#kefu-root .kefu-bubble:focus-visible,#kefu-root button:focus-visible,#kefu-root textarea:focus-visible,#kefu-root a:focus-visible{outline:3px solid #f5b700;outline-offset:2px}" +
    "#kefu-root .kefu-panel{position:absolute;bottom:72px;inset-inline-end:0;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);background:#fff;border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden}" +
    "#kefu-root .kefu-panel[hidden]{display:none}" +
    "#kefu-root header{background:" + cfg.color + ";color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}" +
    "#kefu-root header h2{margin:0;font-size:16px;font-weight:600;flex:1}" +
    "#kefu-root header p{margin:0;font-size:12px;opacity:.9}" +
    "#kefu-root .kefu-close{background:transparent;border:0;color:#fff;font-size:24px;line-height:1;cursor:pointer;padding:2px 8px}" +
    "#kefu-root .kefu-log{list-style:none;margin:0;padding:12px;overflow-y:auto;flex:1;display:flex;flex-direction:column;gap:8px;background:#f6f8f7}" +
    "#kefu-root .kefu-msg{max-width:85%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere}" +
    "#kefu-root .kefu-customer{align-self:flex-end;background:" + cfg.color + ";color:#fff}" +
    "#kefu-root .kefu-bot,#kefu-root .kefu-staff{align-self:flex-start;background:#fff;border:1px solid #dfe6e2}" +
    "#kefu-root .kefu-staff{border-color:#9cc7b2}" +
    "#kefu-root .kefu-pending{opacity:.6}" +
    "#kefu-root .kefu-via{display:block;font-size:11px;opacity:.7;margin-bottom:2px}" +
    "#kefu-root .kefu-who{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}" +
    "#kefu-root .kefu-cites{margin:6px 0 0;padding:6px 0 0;border-top:1px solid #e4ebe7;font-size:13px;list-style:none}" +
    "#kefu-root .kefu-cites a{color:#17603f}" +
    "#kefu-root .kefu-note{align-self:center;font-size:12px;color:#5c6b63;text-align:center}" +
    "#kefu-root .kefu-typing{padding:0 14px 6px;font-size:13px;color:#5c6b63;background:#f6f8f7}" +
    "#kefu-root .kefu-typing[hidden],#kefu-root .kefu-quick[hidden],#kefu-root .kefu-rate[hidden]{display:none}" +
    "#kefu-root .kefu-quick,#kefu-root .kefu-rate{display:flex;flex-wrap:wrap;gap:6px;padding:8px 12px;background:#f6f8f7;border-top:1px solid #e4ebe7}" +
    "#kefu-root .kefu-quick button,#kefu-root .kefu-rate button{border:1px solid " + cfg.color + ";color:" + cfg.color + ";background:#fff;border-radius:16px;padding:4px 11px;cursor:pointer;font-size:13px}" +
    "#kefu-root .kefu-rate p{margin:0;width:100%;font-size:13px}" +
    "#kefu-root form{display:flex;gap:6px;padding:10px;border-top:1px solid #e4ebe7;background:#fff}" +
    "#kefu-root textarea{flex:1;resize:none;border:1px solid #c9d4ce;border-radius:10px;padding:8px 10px;max-height:120px;min-height:40px}" +
    "#kefu-root form button{border:0;border-radius:10px;background:" + cfg.color + ";color:#fff;padding:0 14px;cursor:pointer}" +
    "#kefu-root .kefu-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}" +
    "@media (max-width:480px){#kefu-root .kefu-panel{position:fixed;inset:0;width:auto;max-width:none;height:auto;max-height:none;border-radius:0}}" +
    "@media (prefers-reduced-motion:no-preference){#kefu-root .kefu-panel{transition:opacity .15s}}";

  function el(tag, props, children) {
    var e = document.createElement(tag);
    for (var k in props) {
      if (k === "text") e.textContent = props[k];
      else if (k === "class") e.className = props[k];
      else if (k.indexOf("on") === 0) e.addEventListener(k.slice(2), props[k]);
      else e.setAttribute(k, props[k]);
    }
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  var style = el("style", { text: css });
  var log = el("ol", { class: "kefu-log", role: "log", "aria-live": "polite", "aria-label": T.title, tabindex: "0" });
  var typing = el("div", { class: "kefu-typing", role: "status", hidden: "" });
  var status = el("p", { class: "kefu-status", role: "status", text: T.hint });
  var title = el("h2", { id: "kefu-title", text: T.title });
  var closeBtn = el("button", { type: "button", class: "kefu-close", "aria-label": T.close, text: "×", onclick: function () { toggle(false); } });
  var input = el("textarea", { id: "kefu-input", dir: "auto", rows: "1", maxlength: "4000", placeholder: T.placeholder, autocomplete: "off" });
  var form = el("form", { class: "kefu-form", onsubmit: function (ev) { ev.preventDefault(); submit(input.value); } }, [
    el("label", { for: "kefu-input", class: "kefu-sr", text: T.input }),
    input,
    el("button", { type: "submit", text: T.send })
  ]);
  var quick = el("div", { class: "kefu-quick", role: "group", "aria-label": T.suggestions }, [
    el("button", { type: "button", "data-quick": "track", text: T.track, onclick: function () { submit(T.track); } }),
    el("button", { type: "button", "data-quick": "human", text: T.human, onclick: function () { submit(T.human); } })
  ]);
  var rate = el("div", { class: "kefu-rate", role: "group", "aria-label": T.rate, hidden: "" }, [el("p", { text: T.rate })]);
  [1, 2, 3, 4, 5].forEach(function (n) {
    rate.appendChild(el("button", { type: "button", "data-score": String(n), "aria-label": T.stars.replace("{n}", n), text: "★ " + n, onclick: function () { rate.hidden = true; submit(String(n)); } }));
  });
  var panel = el("section", { id: "kefu-panel", class: "kefu-panel", role: "dialog", "aria-labelledby": "kefu-title", hidden: "" }, [
    el("header", {}, [el("div", { style: "flex:1" }, [title, status]), closeBtn]),
    log, typing, rate, quick, form
  ]);
  var bubble = el("button", { type: "button", class: "kefu-bubble", "aria-label": T.open, "aria-expanded": "false", "aria-controls": "kefu-panel" });
  bubble.innerHTML = '<svg width="28" height="28" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
  bubble.addEventListener("click", function () { toggle(panel.hidden); });
  var root = el("div", { id: "kefu-root", lang: lang, dir: rtl ? "rtl" : "ltr" }, [style, panel, bubble]);

  function toggle(open) {
    state.open = open;
    panel.hidden = !open;
    bubble.setAttribute("aria-expanded", open ? "true" : "false");
    bubble.setAttribute("aria-label", open ? T.close : T.open);
    if (open) { input.focus(); scroll(); } else { bubble.focus(); }
  }
  panel.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { ev.preventDefault(); toggle(false); }
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); submit(input.value); }
  });

  function scroll() { log.scrollTop = log.scrollHeight; }

  function roleLabel(role) { return role === "customer" ? T.you : role === "staff" ? T.staff : T.bot; }

  function render(m) {
    var li = el("li", { class: "kefu-msg kefu-" + m.role, "data-id": String(m.id || "") }, [
      el("span", { class: "kefu-who", text: roleLabel(m.role) + ": " }),
      m.channel ? el("span", { class: "kefu-via", "data-channel": m.channel, text: CHANNELS[m.channel] || m.channel }) : null,
      el("span", { class: "kefu-text", dir: "auto", text: m.text })
    ]);
    if (m.citations && m.citations.length) {
      var list = el("ul", { class: "kefu-cites", "aria-label": T.sources });
      m.citations.forEach(function (c) {
        var item = c.url && /^https?:\/\//.test(c.url)
          ? el("a", { href: c.url, target: "_blank", rel: "noopener noreferrer", "data-doc": c.document_id, text: c.title })
          : el("span", { "data-doc": c.document_id, text: c.title });
        list.appendChild(el("li", {}, [item]));
      });
      li.appendChild(list);
    }
    return li;
  }

  function showMessage(m) {
    if (state.seen[m.id]) return;
    state.seen[m.id] = true;
    if (m.id > state.last) state.last = m.id;
    if (m.client_id) {
      var mine = log.querySelector('[data-client="' + m.client_id + '"]');
      if (mine) mine.parentNode.removeChild(mine);
      state.pending = state.pending.filter(function (p) { return p.id !== m.client_id; });
      save();
    }
    if (m.role !== "customer") {
      for (var d in state.drafts) { var node = state.drafts[d]; if (node.parentNode) node.parentNode.removeChild(node); }
      state.drafts = {};
    }
    log.appendChild(render(m));
    scroll();
  }

  function showPending(p) {
    var li = render({ role: "customer", text: p.text });
    li.className += " kefu-pending";
    li.setAttribute("data-client", p.id);
    log.appendChild(li);
    scroll();
  }

  function note(text) {
    log.appendChild(el("li", { class: "kefu-note", role: "note", text: text }));
    scroll();
  }

  function submit(text) {
    text = (text || "").trim();
    if (!text) return;
    var p = { id: randomId(16), text: text };
    state.pending.push(p);
    save();
    showPending(p);
    input.value = "";
    transmit(p);
    if (!state.open) toggle(true);
  }

  function transmit(p) {
    if (!state.ws || state.ws.readyState !== 1 || !state.ready) return;
    state.ws.send(JSON.stringify({ type: "message", id: p.id, text: p.text, user_id: cfg.userId, user_hash: cfg.userHash }));
  }

  // ----- connection -----
  function connect() {
    var ws;
    try { ws = new WebSocket(wsUrl); } catch (e) { return later(); }
    state.ws = ws;
    state.ready = false;
    ws.onopen = function () {
      ws.send(JSON.stringify({ type: "hello", site: cfg.site, visitor: state.visitor, user_id: cfg.userId, user_hash: cfg.userHash, lang: lang, after: state.last }));
    };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f.type === "welcome") {
        state.ready = true;
        state.retry = 0;
        status.textContent = T.hint;
        root.setAttribute("data-state", "online");
        if (f.shop) title.textContent = f.shop;
        state.pending.forEach(transmit);
      } else if (f.type === "message") {
        showMessage(f);
        if (f.role !== "customer") { typing.hidden = true; }
      } else if (f.type === "typing") {
        typing.textContent = f.on ? T.typing : "";
        typing.hidden = !f.on;
      } else if (f.type === "delta") {
        var node = state.drafts[f.draft];
        if (!node) {
          node = render({ role: "bot", text: "" });
          node.setAttribute("data-draft", String(f.draft));
          node.setAttribute("aria-busy", "true");
          state.drafts[f.draft] = node;
          log.appendChild(node);
        }
        node.querySelector(".kefu-text").textContent += f.text;
        scroll();
      } else if (f.type === "rate") {
        rate.hidden = false;
      } else if (f.type === "error") {
        if (window.console) console.warn("kefu widget: " + f.code + ": " + f.message);
        if (f.code === "slow_down") note(T.slow);
        else if (f.code === "bad_identity" || f.code === "bad_site") { state.fatal = true; note(T.unavailable); }
        else if (f.code === "unavailable") note(T.unavailable);
      }
    };
    ws.onclose = function () {
      state.ready = false;
      if (state.ws === ws && !state.fatal) {
        root.setAttribute("data-state", "offline");
        status.textContent = T.offline;
        later();
      }
    };
    ws.onerror = function () { /* onclose follows */ };
  }

  function later() {
    var delay = Math.min(10000, 500 * Math.pow(2, state.retry++)) * (0.75 + Math.random() / 2);
    clearTimeout(state.timer);
    state.timer = setTimeout(connect, delay);
  }
  window.addEventListener("online", function () {
    if (!state.ready && !state.fatal) { clearTimeout(state.timer); connect(); }
  });

  function start() {
    document.body.appendChild(root);
    state.pending.forEach(showPending);
    if (state.open) toggle(true);
    connect();
  }
  window.kefuWidget = {
    open: function () { toggle(true); },
    close: function () { toggle(false); },
    send: submit
  };
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
