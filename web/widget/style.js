/* kefu widget: its stylesheet. It is adopted by the widget's shadow root (a constructed
 * CSSStyleSheet), so no host rule reaches the widget, nothing is injected into the host page, and a
 * strict host CSP (no 'unsafe-inline' in style-src) does not block it. `all:initial` on the root stops
 * the host page's inherited properties (font, colour, text-transform...) at the boundary. */
(function (kefu) {
  "use strict";

  const CSS = `
:host{all:initial}
*,*::before,*::after{box-sizing:border-box}
.root{all:initial;--kefu-accent:#2f6fed;--kefu-on-accent:#fff;position:fixed;right:20px;bottom:20px;z-index:2147483000;
  display:flex;flex-direction:column;align-items:flex-end;gap:10px;
  font:14px/1.4 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
  font-weight:400;font-style:normal;color:#1d2430;text-align:left;text-transform:none;letter-spacing:normal;
  -webkit-font-smoothing:antialiased}
.root[data-position=left]{right:auto;left:20px;align-items:flex-start}
button,input,textarea{font:inherit;color:inherit;text-transform:none;letter-spacing:normal;margin:0}
button{cursor:pointer}
:focus-visible{outline:2px solid var(--kefu-accent);outline-offset:2px}
.sr{position:absolute!important;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
.hidden{display:none!important}

.launcher{position:relative;display:inline-flex;align-items:center;gap:8px;border:0;border-radius:28px;padding:14px 20px;
  background:var(--kefu-accent);color:var(--kefu-on-accent);font-weight:600;box-shadow:0 4px 14px rgba(0,0,0,.2)}
.launcher-wrap{position:relative;display:inline-block}
.badge{pointer-events:none;position:absolute;top:-6px;right:-6px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#e5484d;
  color:#fff;font-size:12px;font-weight:700;line-height:22px;text-align:center;box-shadow:0 0 0 2px #fff}
.root[data-position=left] .badge{right:auto;left:-6px}
.preview{max-width:280px;padding:10px 12px;border-radius:12px;background:#fff;color:#1d2430;border:1px solid #dde3ee;
  box-shadow:0 4px 14px rgba(0,0,0,.15);cursor:pointer;text-align:left;display:flex;flex-direction:column;gap:2px}
.preview b{font-size:12px;color:#66708a;font-weight:600}
.preview span{display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden;font-weight:400}

.panel{display:none;flex-direction:column;width:360px;height:min(560px,calc(100vh - 110px));background:#fff;border-radius:14px;
  box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden}
.open .panel{display:flex}
.open .preview{display:none}
.head{display:flex;align-items:center;gap:10px;background:var(--kefu-accent);color:var(--kefu-on-accent);padding:12px 14px}
.head-avatar{width:34px;height:34px;border-radius:50%;object-fit:cover;background:rgba(255,255,255,.3)}
.head-text{flex:1;min-width:0}
.title{display:block;margin:0;font-size:15px;font-weight:700;line-height:1.3}
.status{font-size:12px;opacity:.92;font-weight:400}
.end,.close{background:none;border:1px solid rgba(255,255,255,.6);color:inherit;border-radius:6px;font-size:12px;padding:3px 8px}
.close{border:0;font-size:20px;line-height:1;padding:2px 6px}

.prechat{padding:20px;display:flex;flex-direction:column;gap:12px;overflow-y:auto}
.greeting{margin:0;font-size:15px}
.field{display:flex;flex-direction:column;gap:4px;font-size:12px;color:#4a5468;font-weight:600}
.field input,.field textarea{border:1px solid #cfd6e4;border-radius:8px;padding:8px;font-size:14px;font-weight:400;color:#1d2430;background:#fff}
.primary{border:0;border-radius:8px;background:var(--kefu-accent);color:var(--kefu-on-accent);padding:9px 14px;font-weight:600}
.primary:disabled{opacity:.55;cursor:default}
.secondary{border:1px solid #cfd6e4;border-radius:8px;background:#fff;color:#1d2430;padding:8px 12px}

.body{flex:1;overflow-y:auto;padding:10px 12px;background:#f5f7fb}
.messages{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:8px}
.msg{display:flex;flex-direction:column;align-items:flex-start;max-width:100%}
.msg[data-sender=visitor]{align-items:flex-end}
.msg-row{display:flex;align-items:flex-end;gap:6px;max-width:88%}
.avatar{width:26px;height:26px;border-radius:50%;object-fit:cover;flex:none}
.sender{font-size:11px;color:#66708a;margin:0 0 2px 2px;font-weight:600}
.bubble{display:flex;flex-direction:column;gap:6px;min-width:0;padding:8px 11px;border-radius:12px;background:#fff;border:1px solid #dde3ee}
.msg[data-sender=visitor] .bubble{background:var(--kefu-accent);color:var(--kefu-on-accent);border-color:transparent}
.msg[data-deleted=true] .bubble{background:none;border-style:dashed;color:#8a93a8;font-style:italic}
.kefu-text{white-space:pre-wrap;overflow-wrap:anywhere;font-weight:400}
.kefu-text:empty{display:none}
.file img{display:block;max-width:220px;max-height:220px;border-radius:8px;background:#e9edf5}
.file a{color:inherit;text-decoration:underline;word-break:break-all}
.foot{display:flex;gap:6px;font-size:11px;color:#8a93a8;margin:2px 4px 0}
.system{align-self:center;text-align:center;font-size:12px;color:#66708a;padding:2px 8px;display:flex;gap:6px;align-items:baseline}
.system time{font-size:11px;color:#8a93a8}
.typing{font-size:12px;color:#66708a;min-height:18px;padding:0 12px;background:#f5f7fb}
.offline{margin:0;padding:10px 12px;background:#fff8e6;border-top:1px solid #f0e0b0;color:#5c4a12;font-size:13px}
.email{padding:8px 12px 0}
.notice{margin:0;padding:8px 12px;background:#eef4ff;color:#1d3f8a;font-size:13px;border-top:1px solid #d4e1fb}
.alert{margin:0;padding:8px 12px;background:#fdecec;color:#a01e1e;font-size:13px;border-top:1px solid #f3c4c4}
.composer{display:flex;align-items:flex-end;gap:6px;padding:8px;border-top:1px solid #e4e8f0}
.composer textarea{flex:1;resize:none;border:1px solid #cfd6e4;border-radius:8px;padding:8px;height:40px;max-height:120px;background:#fff;color:#1d2430}
.composer .primary{height:40px}
.attach{position:relative;display:inline-flex;align-items:center;justify-content:center;width:36px;height:40px;border-radius:8px;
  color:#4a5468;cursor:pointer;font-size:18px}
.attach:hover{background:#eef1f7}
.attach input{position:absolute;inset:0;opacity:0;cursor:pointer;width:100%}
.attach:focus-within{outline:2px solid var(--kefu-accent)}
.rating{padding:10px 12px;border-top:1px solid #e4e8f0;display:flex;flex-direction:column;gap:8px;text-align:center}
.rating p{margin:0;font-weight:600}
.stars{display:flex;justify-content:center;gap:2px}
.star{border:0;background:none;font-size:26px;line-height:1;padding:2px 4px;color:#c4cad6}
.star[data-lit=true]{color:#f5a623}
.star:disabled{cursor:default}
.rating textarea{resize:none;height:52px}
.actions{display:flex;gap:6px;justify-content:center;flex-wrap:wrap}

@media (max-width:479.98px){
  .root.open{inset:0;gap:0}
  .open .panel{position:fixed;inset:0;width:100vw;height:100vh;height:100dvh;border-radius:0}
  .open .launcher-wrap{display:none}
}`;

  /** The widget's stylesheet, to adopt in its shadow root. */
  function styleSheet() {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    return sheet;
  }

  kefu.style = { CSS, styleSheet };
})(window.__kefu);
