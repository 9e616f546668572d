/* Sandbox stand-in for Smile's smile.v2.js: the same global `SmileLinkModal` API, rendered as a
   small accessible modal that needs no network. It accepts Smile's documented sandbox accounts
   (MFA code 1234), fires the SDK callbacks with realistic arguments and honours token expiry.
   Tokens come from flipgen's API emulator: "sbx." + base64url({"u","exp","n"}) + ".emulator".
   Styles go through a constructed stylesheet (CSSOM), so a strict `style-src 'self'` CSP holds.
   Production builds never reference this file. */
(function (global) {
  "use strict";

  var PROVIDERS = [
    ["upwork", "Upwork", "Freelance"],
    ["grab", "Grab", "Ride-hailing and delivery"],
    ["freelancer", "Freelancer.com", "Freelance"],
    ["fiverr", "Fiverr", "Freelance"],
    ["uber", "Uber", "Ride-hailing and delivery"],
    ["lyft", "Lyft", "Ride-hailing"],
    ["doordash", "DoorDash", "Delivery"],
    ["instacart", "Instacart", "Delivery"],
    ["lalamove", "Lalamove", "Delivery"],
    ["gojek", "Gojek", "Ride-hailing and delivery"],
    ["shopee", "Shopee", "Online seller"],
    ["lazada", "Lazada", "Online seller"],
    ["adp", "ADP", "Payroll"],
    ["gusto", "Gusto", "Payroll"],
    ["workday", "Workday", "Payroll"],
    ["paychex", "Paychex", "Payroll"],
    ["sprout", "Sprout Solutions", "Payroll"],
    ["sage_payroll", "Sage Payroll", "Payroll"],
    ["xero", "Xero", "Payroll"],
    ["iris", "IRIS Payroll", "Payroll"],
    ["moorepay", "MoorePay", "Payroll"],
    ["sss", "Social Security System (SSS)", "Government"],
    ["pagibig", "Pag-IBIG Fund", "Government"],
    ["bpjs", "BPJS Ketenagakerjaan", "Government"],
    ["epfo", "EPFO (India)", "Government"],
  ];
  var ACCOUNTS = {
    "gpalomero1234@smileapi.io": "123456",
    "ryan1234@smileapi.io": "654321",
    "christina4321@smileapi.io": "YGUS1",
    "anisha98765@smileapi.io": "123456",
  };
  var MFA_CODE = "1234",
    MAX_TRIES = 3;
  var FILE_TYPES = [
    ["payslip", "Payslip"],
    ["tax_return", "Income tax return"],
    ["bank_statement", "Bank statement"],
    ["employment_certificate", "Certificate of employment"],
  ];
  var usedNonces = {};

  var CSS = [
    ".sle-backdrop{position:fixed;inset:0;z-index:2147483000;display:flex;align-items:center;justify-content:center;",
    "padding:12px;background:rgb(15 23 42/.6);font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1e2330}",
    ".sle-dialog{width:100%;max-width:420px;max-height:100%;overflow:auto;background:#fff;border-radius:16px;",
    "box-shadow:0 24px 60px rgb(0 0 0/.3)}",
    ".sle-top{display:flex;align-items:center;gap:8px;padding-block:14px 0;padding-inline:20px 14px}",
    ".sle-mark{font-weight:800;letter-spacing:.02em;color:#3a1fb8}",
    ".sle-badge{font-size:11px;font-weight:700;letter-spacing:.08em;padding:2px 8px;border-radius:999px;background:#fdecc8;color:#6b3a00}",
    ".sle-x{margin-inline-start:auto;width:40px;height:40px;border:0;border-radius:50%;background:transparent;font-size:24px;line-height:1;cursor:pointer;color:#3d4350}",
    ".sle-x:hover{background:#eef0f4}",
    ".sle-body{padding:8px 20px 22px}",
    ".sle-body h2{font-size:20px;line-height:1.3;margin:6px 0 6px}",
    ".sle-body h2:focus{outline:none}",
    ".sle-body p{margin:0 0 12px;color:#454b58}",
    ".sle-list{list-style:none;margin:12px 0 0;padding:0;display:grid;gap:8px}",
    ".sle-prov{display:flex;width:100%;align-items:center;gap:12px;padding:10px 12px;border:1px solid #c9ced8;border-radius:12px;",
    "background:#fff;font:inherit;text-align:start;cursor:pointer;color:inherit}",
    ".sle-prov:hover{border-color:#3a1fb8;background:#f5f3ff}",
    ".sle-ava{flex:none;width:36px;height:36px;border-radius:10px;display:grid;place-items:center;font-weight:700;color:#fff;background:#3a1fb8}",
    ".sle-prov small{display:block;color:#5a6070}",
    ".sle-field{display:block;margin:12px 0 0}",
    ".sle-field span{display:block;font-weight:600;margin-bottom:4px}",
    ".sle-in{display:block;width:100%;box-sizing:border-box;min-height:44px;padding:9px 12px;border:1.5px solid #6b7280;border-radius:10px;font:inherit}",
    ".sle-btn{display:block;width:100%;min-height:46px;margin-top:14px;border:0;border-radius:10px;background:#3a1fb8;color:#fff;font:inherit;font-weight:600;cursor:pointer}",
    ".sle-btn--2{background:#fff;color:#3a1fb8;border:1.5px solid #3a1fb8}",
    ".sle-link{border:0;background:none;padding:8px 0;font:inherit;color:#3a1fb8;text-decoration:underline;cursor:pointer}",
    ".sle-err{margin-top:10px;padding:8px 12px;border-radius:10px;background:#fdecec;color:#8a1c1c;font-weight:600}",
    ".sle-err:empty{display:none}",
    ".sle-hint{font-size:13px;padding:8px 12px;border-radius:10px;background:#f1f3f7}",
    ".sle-row{display:flex;align-items:center;gap:8px;padding:8px 0;border-bottom:1px solid #e3e6ec}",
    ".sle-row .sle-link{margin-inline-start:auto}",
    ".sle-ok{width:56px;height:56px;border-radius:50%;background:#e6f6ec;color:#136c34;font-size:30px;display:grid;place-items:center;margin:8px 0}",
    ".sle-backdrop :focus-visible{outline:3px solid #3a1fb8;outline-offset:2px}",
    "@media (prefers-reduced-motion:no-preference){.sle-dialog{animation:sle-in .18s ease-out}}",
    "@keyframes sle-in{from{opacity:0;transform:translateY(12px) scale(.98)}}",
  ].join("");
  var sheet = null;
  function adoptStyles() {
    if (sheet || typeof CSSStyleSheet !== "function" || !("adoptedStyleSheets" in document)) return;
    try {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat(sheet);
    } catch {
      sheet = null; /* unstyled but usable */
    }
  }

  function decodeToken(token) {
    var parts = typeof token === "string" ? token.split(".") : [];
    if (parts.length !== 3 || parts[0] !== "sbx" || parts[2] !== "emulator") return null;
    try {
      var b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
      while (b64.length % 4) b64 += "=";
      var bytes = Uint8Array.from(atob(b64), function (c) {
        return c.charCodeAt(0);
      });
      var claims = JSON.parse(new TextDecoder().decode(bytes));
      return claims && typeof claims.u === "string" && typeof claims.exp === "number" ? claims : null;
    } catch {
      return null;
    }
  }
  function expired(claims) {
    return !claims || claims.exp * 1000 <= Date.now();
  }
  function rid(prefix) {
    var a = new Uint8Array(8);
    crypto.getRandomValues(a);
    return (
      prefix +
      Array.from(a, function (b) {
        return b.toString(16).padStart(2, "0");
      }).join("")
    );
  }
  function h(tag, attrs, kids) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") el.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), attrs[k]);
      else if (attrs[k] !== false && attrs[k] != null) el.setAttribute(k, attrs[k] === true ? "" : attrs[k]);
    });
    (kids || []).forEach(function (c) {
      if (c) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return el;
  }
  function call(fn, arg) {
    if (typeof fn !== "function") return;
    try {
      fn(arg);
    } catch (e) {
      setTimeout(function () {
        throw e;
      });
    }
  }

  function SmileLinkModal(options) {
    if (!(this instanceof SmileLinkModal)) throw new TypeError("SmileLinkModal must be called with new");
    this.options = options || {};
    this.root = null;
  }

  SmileLinkModal.prototype.open = function () {
    var o = this.options,
      claims = decodeToken(o.userToken),
      self = this;
    if (this.root) return;
    if (expired(claims) || (claims.n && usedNonces[claims.n])) {
      // Tokens are single use and short-lived: the host must mint a new one.
      setTimeout(function () {
        call(o.onTokenExpired);
      });
      return;
    }
    if (claims.n) usedNonces[claims.n] = true;
    adoptStyles();
    this.claims = claims;
    this.userId = claims.u;
    this.accounts = [];
    this.uploads = [];
    this.opener = document.activeElement;
    this.body = h("div", { class: "sle-body" });
    this.dialog = h("div", { class: "sle-dialog", role: "dialog", "aria-modal": "true", "aria-labelledby": "sle-h" }, [
      h("div", { class: "sle-top" }, [
        h("span", { class: "sle-mark", text: "smile" }),
        h("span", { class: "sle-badge", text: "SANDBOX" }),
        h("button", {
          type: "button",
          class: "sle-x",
          "aria-label": "Close",
          text: "\u00d7",
          onclick: function () {
            self.finish("close");
          },
        }),
      ]),
      this.body,
    ]);
    this.root = h("div", { class: "sle-backdrop", "data-smile-emulator": "" }, [this.dialog]);
    this.root.addEventListener("keydown", function (e) {
      self.onKey(e);
    });
    this.inerted = [].filter.call(document.body.children, function (el) {
      return !el.inert;
    });
    this.inerted.forEach(function (el) {
      el.inert = true;
    });
    document.body.appendChild(this.root);
    var list = this.providerList();
    if (list.length === 1) this.login(list[0], false);
    else this.providers();
  };

  /** Removes the modal without any callback (used on token expiry and by hosts). */
  SmileLinkModal.prototype.close = function () {
    if (!this.root) return;
    this.root.remove();
    this.root = null;
    this.inerted.forEach(function (el) {
      el.inert = false;
    });
    if (this.opener && this.opener.isConnected && this.opener.focus) this.opener.focus();
  };

  SmileLinkModal.prototype.finish = function (reason) {
    if (!this.root) return;
    this.close();
    call(this.options.onClose, { reason: reason });
  };

  SmileLinkModal.prototype.expireIfNeeded = function () {
    if (!expired(this.claims)) return false;
    this.close();
    call(this.options.onTokenExpired);
    return true;
  };

  SmileLinkModal.prototype.ui = function (name, extra) {
    var ev = {
      eventName: name,
      eventTime: new Date().toISOString(),
      mode: "SANDBOX",
      userId: this.userId,
      account: null,
      archive: null,
    };
    Object.keys(extra || {}).forEach(function (k) {
      ev[k] = extra[k];
    });
    call(this.options.onUIEvent, ev);
  };

  SmileLinkModal.prototype.onKey = function (e) {
    if (e.key === "Escape") {
      e.preventDefault();
      this.finish("close");
      return;
    }
    if (e.key !== "Tab") return;
    var f = [].filter.call(this.dialog.querySelectorAll("button, input, a[href], select, textarea"), function (el) {
      return !el.disabled && el.offsetParent !== null;
    });
    if (!f.length) return;
    var first = f[0],
      last = f[f.length - 1],
      at = document.activeElement;
    if (e.shiftKey && (at === first || !this.dialog.contains(at))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (at === last || !this.dialog.contains(at))) {
      e.preventDefault();
      first.focus();
    }
  };

  /** Replaces the page content and moves focus to its heading. */
  SmileLinkModal.prototype.page = function (title, kids) {
    var h2 = h("h2", { id: "sle-h", tabindex: "-1", text: title });
    this.body.replaceChildren.apply(this.body, [h2].concat(kids).filter(Boolean));
    h2.focus();
  };

  SmileLinkModal.prototype.providerList = function () {
    var o = this.options,
      only = o.providers || [],
      top = o.topProviders || [],
      known = {};
    PROVIDERS.forEach(function (p) {
      known[p[0]] = { id: p[0], name: p[1], kind: p[2] };
    });
    var ids = only.length
      ? only.slice()
      : PROVIDERS.map(function (p) {
          return p[0];
        });
    var list = ids.map(function (id) {
      return known[id] || { id: id, name: id, kind: "Provider" };
    });
    list.sort(function (a, b) {
      var ta = top.indexOf(a.id),
        tb = top.indexOf(b.id);
      if (ta >= 0 || tb >= 0) return (ta < 0 ? 1e3 : ta) - (tb < 0 ? 1e3 : tb);
      return a.name.localeCompare(b.name);
    });
    return list;
  };

  SmileLinkModal.prototype.providers = function () {
    var self = this,
      all = this.providerList(),
      ul = h("ul", { class: "sle-list", "aria-label": "Providers" });
    function fill(q) {
      ul.replaceChildren.apply(
        ul,
        all
          .filter(function (p) {
            return !q || p.name.toLowerCase().indexOf(q.toLowerCase()) >= 0;
          })
          .map(function (p) {
            return h("li", {}, [
              h(
                "button",
                {
                  type: "button",
                  class: "sle-prov",
                  "data-provider": p.id,
                  onclick: function () {
                    self.login(p, true);
                  },
                },
                [
                  h("span", { class: "sle-ava", "aria-hidden": "true", text: p.name.charAt(0).toUpperCase() }),
                  h("span", {}, [p.name, h("small", { text: p.kind })]),
                ],
              ),
            ]);
          }),
      );
    }
    fill("");
    this.page("Connect your income source", [
      h("p", { text: "Choose where you earn. You can connect more than one." }),
      h("label", { class: "sle-field" }, [
        h("span", { text: "Search" }),
        h("input", {
          class: "sle-in",
          type: "search",
          autocomplete: "off",
          oninput: function (e) {
            fill(e.target.value);
          },
        }),
      ]),
      ul,
      this.options.enableUpload
        ? h("button", {
            type: "button",
            class: "sle-btn sle-btn--2",
            onclick: function () {
              self.fileTypes();
            },
            text: "Upload documents instead",
          })
        : null,
    ]);
    this.ui("ProviderListPageOpened");
  };

  SmileLinkModal.prototype.login = function (p, canGoBack) {
    var self = this,
      tries = 0,
      err = h("p", { class: "sle-err", role: "alert" });
    var email = h("input", {
      class: "sle-in",
      id: "sle-email",
      name: "email",
      type: "email",
      autocomplete: "off",
      required: true,
    });
    var pass = h("input", {
      class: "sle-in",
      id: "sle-password",
      name: "password",
      type: "password",
      autocomplete: "off",
      required: true,
    });
    var form = h(
      "form",
      {
        novalidate: true,
        onsubmit: function (e) {
          e.preventDefault();
          if (self.expireIfNeeded()) return;
          var accountId = rid("a-"),
            ids = { accountId: accountId, userId: self.userId, providerId: p.id };
          if (ACCOUNTS[email.value.trim().toLowerCase()] === pass.value) {
            call(self.options.onAccountCreated, ids);
            return self.mfa(p, accountId);
          }
          tries += 1;
          call(self.options.onAccountError, {
            accountId: accountId,
            userId: self.userId,
            providerId: p.id,
            errorCode: "INVALID_CREDENTIALS",
          });
          if (tries >= MAX_TRIES) return self.error("ACCOUNT_LOCKED");
          err.textContent = "The email or password is incorrect. Check them and try again.";
          email.setAttribute("aria-invalid", "true");
          email.focus();
        },
      },
      [
        h("label", { class: "sle-field" }, [h("span", { text: "Email" }), email]),
        h("label", { class: "sle-field" }, [h("span", { text: "Password" }), pass]),
        err,
        h("button", { type: "submit", class: "sle-btn", text: "Log in" }),
      ],
    );
    this.page("Log in to " + p.name, [
      h("p", { class: "sle-hint", text: "Sandbox: log in with gpalomero1234@smileapi.io and password 123456." }),
      form,
      canGoBack
        ? h("button", {
            type: "button",
            class: "sle-link",
            text: "Back to the list",
            onclick: function () {
              self.providers();
            },
          })
        : null,
    ]);
    this.ui("LoginPageOpened", { providerId: p.id });
  };

  SmileLinkModal.prototype.mfa = function (p, accountId) {
    var self = this,
      tries = 0,
      err = h("p", { class: "sle-err", role: "alert" });
    var code = h("input", {
      class: "sle-in",
      id: "sle-mfa",
      name: "code",
      inputmode: "numeric",
      autocomplete: "one-time-code",
      required: true,
    });
    this.page("Enter your verification code", [
      h("p", { text: "We sent a code to the phone number on your " + p.name + " account. (Sandbox code: 1234.)" }),
      h(
        "form",
        {
          novalidate: true,
          onsubmit: function (e) {
            e.preventDefault();
            if (self.expireIfNeeded()) return;
            var ids = { accountId: accountId, userId: self.userId, providerId: p.id };
            if (code.value.trim() === MFA_CODE) {
              self.accounts.push({ accountId: accountId, provider: p });
              call(self.options.onAccountConnected, ids);
              return self.success(p, accountId);
            }
            tries += 1;
            ids.errorCode = "INVALID_MFA";
            call(self.options.onAccountError, ids);
            if (tries >= MAX_TRIES) return self.error("INVALID_MFA");
            err.textContent = "That code isn't right. Check it and try again.";
            code.setAttribute("aria-invalid", "true");
            code.focus();
          },
        },
        [
          h("label", { class: "sle-field" }, [h("span", { text: "Verification code" }), code]),
          err,
          h("button", { type: "submit", class: "sle-btn", text: "Verify" }),
        ],
      ),
    ]);
    this.ui("MfaPageOpened", { providerId: p.id });
  };

  SmileLinkModal.prototype.success = function (p, accountId) {
    var self = this;
    var rows = this.accounts.map(function (a) {
      return h("li", { class: "sle-row" }, [
        a.provider.name,
        h("button", {
          type: "button",
          class: "sle-link",
          text: "Disconnect",
          "aria-label": "Disconnect " + a.provider.name,
          onclick: function () {
            self.accounts = self.accounts.filter(function (x) {
              return x !== a;
            });
            self.ui("AccountRevokePageOpened", { providerId: a.provider.id, accountId: a.accountId });
            call(self.options.onAccountRemoved, {
              accountId: a.accountId,
              userId: self.userId,
              providerId: a.provider.id,
            });
            if (self.accounts.length) self.success();
            else self.providers();
          },
        }),
      ]);
    });
    this.page("Account connected", [
      h("div", { class: "sle-ok", "aria-hidden": "true", text: "\u2713" }),
      h("p", { text: "Your account is connected. You can connect another one or finish." }),
      h("ul", { class: "sle-list", "aria-label": "Connected accounts" }, rows),
      h("button", {
        type: "button",
        class: "sle-btn",
        text: "Done",
        onclick: function () {
          self.finish("exit");
        },
      }),
      h("button", {
        type: "button",
        class: "sle-btn sle-btn--2",
        text: "Connect another account",
        onclick: function () {
          self.providers();
        },
      }),
    ]);
    if (p) this.ui("ConnectSuccessPageOpened", { providerId: p.id, accountId: accountId });
  };

  SmileLinkModal.prototype.fileTypes = function () {
    var self = this;
    this.page("What would you like to upload?", [
      h(
        "ul",
        { class: "sle-list", "aria-label": "Document types" },
        FILE_TYPES.map(function (t) {
          return h("li", {}, [
            h(
              "button",
              {
                type: "button",
                class: "sle-prov",
                "data-file-type": t[0],
                onclick: function () {
                  self.fileType(t);
                },
              },
              [h("span", { class: "sle-ava", "aria-hidden": "true", text: t[1].charAt(0) }), h("span", { text: t[1] })],
            ),
          ]);
        }),
      ),
      h("button", {
        type: "button",
        class: "sle-link",
        text: "Back",
        onclick: function () {
          self.providers();
        },
      }),
    ]);
    this.ui("FileTypeListPageOpened");
  };

  SmileLinkModal.prototype.fileType = function (t) {
    var self = this,
      err = h("p", { class: "sle-err", role: "alert" });
    var input = h("input", { class: "sle-in", id: "sle-file", type: "file", multiple: true, accept: ".pdf,image/*" });
    this.page("Upload your " + t[1].toLowerCase(), [
      h("p", { text: "PDF or photo, up to 10 MB each. In the sandbox any file is accepted." }),
      h(
        "form",
        {
          novalidate: true,
          onsubmit: function (e) {
            e.preventDefault();
            if (self.expireIfNeeded()) return;
            if (!input.files.length) {
              err.textContent = "Choose at least one file to upload.";
              input.focus();
              return;
            }
            var made = [].map.call(input.files, function (f) {
              return { id: rid("archive-"), fileType: t[0], fileName: f.name, size: f.size, status: "PROCESSING" };
            });
            self.uploads = self.uploads.concat(made);
            call(self.options.onUploadsCreated, { uploads: made, userId: self.userId });
            self.archives(made[made.length - 1]);
          },
        },
        [
          h("label", { class: "sle-field" }, [h("span", { text: "Files" }), input]),
          err,
          h("button", { type: "submit", class: "sle-btn", text: "Upload" }),
        ],
      ),
      h("button", {
        type: "button",
        class: "sle-link",
        text: "Back",
        onclick: function () {
          self.fileTypes();
        },
      }),
    ]);
    this.ui("FileTypePageOpened", { fileType: t[0] });
  };

  SmileLinkModal.prototype.archives = function (latest) {
    var self = this;
    this.page("Documents uploaded", [
      h("div", { class: "sle-ok", "aria-hidden": "true", text: "\u2713" }),
      h(
        "ul",
        { class: "sle-list", "aria-label": "Uploaded documents" },
        this.uploads.map(function (u) {
          return h("li", { class: "sle-row" }, [
            u.fileName,
            h("button", {
              type: "button",
              class: "sle-link",
              text: "Remove",
              "aria-label": "Remove " + u.fileName,
              onclick: function () {
                self.uploads = self.uploads.filter(function (x) {
                  return x !== u;
                });
                self.ui("RevokeArchivePageOpened", { archive: u });
                call(self.options.onUploadsRemoved, { uploads: [u], userId: self.userId });
                if (self.uploads.length) self.archives();
                else self.fileTypes();
              },
            }),
          ]);
        }),
      ),
      h("button", {
        type: "button",
        class: "sle-btn",
        text: "Done",
        onclick: function () {
          self.finish("exit");
        },
      }),
      h("button", {
        type: "button",
        class: "sle-btn sle-btn--2",
        text: "Upload another document",
        onclick: function () {
          self.fileTypes();
        },
      }),
    ]);
    if (latest) this.ui("ArchiveSuccessPageOpened", { archive: latest });
  };

  SmileLinkModal.prototype.error = function (code) {
    var self = this;
    this.page("We couldn't connect your account", [
      h("p", {
        text:
          code === "INVALID_MFA"
            ? "Too many wrong verification codes."
            : "Too many unsuccessful login attempts. The account is locked for now.",
      }),
      h("p", { class: "sle-hint", text: "Error code: " + code }),
      h("button", {
        type: "button",
        class: "sle-btn",
        text: "Exit",
        onclick: function () {
          self.finish("error");
        },
      }),
    ]);
  };

  SmileLinkModal.emulator = true;
  global.SmileLinkModal = SmileLinkModal;
})(typeof window !== "undefined" ? window : this);
