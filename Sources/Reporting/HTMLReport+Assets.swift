/// The page's own style sheet and script, and the policy that allows nothing else.
extension HTMLReport {
    /// No fetch of any kind (`default-src 'none'`); inline styles; only this page's own script,
    /// by its SHA-256, so even markup that got past escaping could not run; images only as data URLs.
    public static let contentSecurityPolicy: String = {
        let hash = SHA256.base64(SHA256.digest(Array(HTMLReport.script.description.utf8)))
        return "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-\(hash)'; img-src data:; base-uri 'none'; form-action 'none'"
    }()

    static let styleSheet: StaticString = """
        :root{--bad:#c62828;--cut:#ef6c00;--unk:#6a1b9a;--rel:#9e7c00;--ok:#2e7d32;--mute:#5f6368;--line:#dadce0;--bg:#f8f9fa}
        *{box-sizing:border-box}
        body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#202124;background:var(--bg)}
        header,main,footer{max-width:1180px;margin:0 auto;padding:0 20px}
        header{padding-top:14px}
        h1{font-size:21px;margin:6px 0 2px}
        h2{font-size:17px;margin:26px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
        h3{font-size:15px;margin:0 0 4px}
        h4{font-size:12px;margin:12px 0 4px;text-transform:uppercase;letter-spacing:.05em;color:var(--mute)}
        nav a{margin-right:12px}
        a{color:#1a57b8}
        code,pre,svg text{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
        code{font-size:12.5px;background:#eef0f2;border-radius:3px;padding:0 3px;overflow-wrap:anywhere}
        table{border-collapse:collapse;margin:6px 0;background:#fff}
        th,td{border:1px solid var(--line);padding:3px 9px;text-align:left;vertical-align:top}
        th{background:#f1f3f4;font-weight:600}
        .n{text-align:right;font-variant-numeric:tabular-nums}
        .muted{color:var(--mute)}
        .cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
        .card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:6px 14px;min-width:120px;color:var(--mute)}
        .card b{display:block;font-size:22px;color:#202124}
        .card.bad b{color:var(--bad)}
        .headline{font-size:15px}
        .warnings li{color:#8a4b00}
        .warning{color:#8a4b00;font-weight:600}
        .cls{display:inline-block;border-radius:3px;padding:0 6px;color:#fff;font-weight:600;font-size:12px;background:var(--unk)}
        .cls-500,.cls-502,.cls-503,.cls-504{background:var(--bad)}
        .cls-truncated{background:var(--cut)}
        .cls-relayed{background:var(--rel)}
        .cls-ok{background:var(--ok)}
        .card.cls-500,.card.cls-502,.card.cls-503,.card.cls-504,.card.cls-truncated,.card.cls-relayed,.card.cls-unknown,.card.cls-other{background:#fff;color:var(--mute)}
        table.upstreams td:first-child,table.causes td:nth-child(2),table.chain td:nth-child(n+4){white-space:nowrap}
        table.upstreams tr.bad td{background:#fdecea}
        table.upstreams tr.bad td:first-child{border-left:5px solid var(--bad)}
        table.upstreams tr.bad td.failed{color:var(--bad);font-weight:700}
        .bar{width:140px;height:12px;background:#e8eaed;border-radius:2px;overflow:hidden;margin-top:4px}
        .bar span{display:block;height:100%;background:var(--bad)}
        svg{max-width:100%;height:auto;background:#fff;border:1px solid var(--line);border-radius:4px}
        svg.defs{position:absolute;width:0;height:0;border:0}
        svg text{font-size:11px}
        .tl-label{text-anchor:end;fill:#202124}
        .tl-label.bad{fill:var(--bad);font-weight:700}
        .tl-axis{stroke:#bdc1c6}
        .tl-fail{fill:var(--bad)}
        .tl-seen{fill:#bdc1c6}
        .tl-time{text-anchor:middle;fill:var(--mute)}
        .tl-time.last{text-anchor:end}
        article.conn{background:#fff;border:1px solid var(--line);border-left:5px solid var(--unk);border-radius:6px;padding:10px 16px;margin:14px 0}
        article.c-500,article.c-502,article.c-503,article.c-504{border-left-color:var(--bad)}
        article.c-truncated{border-left-color:var(--cut)}
        article.c-relayed{border-left-color:var(--rel)}
        .peers,.facts,.tools{color:var(--mute);margin:2px 0}
        .verdict{font-size:15px;margin:8px 0;font-weight:500}
        .ladder .who{text-anchor:middle;font-weight:700;fill:#202124}
        .ladder .addr{text-anchor:middle;fill:var(--mute)}
        .ladder .life{stroke:#5f6368;stroke-width:2}
        .ladder g text:nth-of-type(1){text-anchor:middle;fill:#202124}
        .ladder g text:nth-of-type(2),.ladder .t{text-anchor:end;fill:var(--mute)}
        .ladder g text:nth-of-type(3),.ladder .col{fill:var(--mute)}
        .ladder .col{font-style:italic}
        .ladder .gap{text-anchor:middle;fill:var(--mute);font-style:italic}
        .ladder g line{stroke-width:1.5}
        .syn line{stroke:#2e7d32;marker-end:url(#arrow-syn)}.head-syn{fill:#2e7d32}
        .fin line{stroke:#1565c0;marker-end:url(#arrow-fin)}.head-fin{fill:#1565c0}
        .rst line{stroke:#c62828;stroke-width:2.5;marker-end:url(#arrow-rst)}.head-rst{fill:#c62828}
        .ladder .rst text:nth-of-type(1){fill:#c62828;font-weight:700}
        .data line{stroke:#202124;marker-end:url(#arrow-data)}.head-data{fill:#202124}
        .ack line{stroke:#9aa0a6;marker-end:url(#arrow-ack)}.head-ack{fill:#9aa0a6}
        .finding p{margin:6px 0 2px}
        .sev{font-size:11px;text-transform:uppercase;font-weight:700;color:var(--mute)}
        .sev-fatal{color:var(--bad)}
        .where .frame{font-weight:700}
        pre.hexdump{background:#f8f9fa;border:1px solid var(--line);border-radius:4px;padding:6px 10px;margin:4px 0;overflow-x:auto;font-size:12.5px;line-height:1.45}
        pre.hexdump .off{color:var(--mute)}
        mark.evidence-byte{background:#ffcdd2;color:#b71c1c;font-weight:700;outline:1px solid #e57373;border-radius:2px}
        .openssl-failed b{color:var(--bad)}
        .openssl-ok b{color:var(--ok)}
        code.filter{display:inline-block;user-select:all}
        #filters{display:flex;gap:14px;align-items:center;padding:8px 12px;background:#fff;border:1px solid var(--line);border-radius:6px}
        #filters[hidden],[hidden]{display:none!important}
        tr.unexplained td{background:#fff4e5}
        footer{padding:20px}
        """

    /// Filtering by upstream and cause. The page does not need it: without it the filter stays
    /// hidden and every section is shown. Reads only `data-` attributes and sets `hidden`.
    static let script: StaticString = """
        (function () {
          var form = document.getElementById("filters");
          if (!form) return;
          var upstream = document.getElementById("filter-upstream");
          var cause = document.getElementById("filter-cause");
          var count = document.getElementById("filter-count");
          var sections = document.querySelectorAll("article.conn");
          function apply() {
            var shown = 0;
            for (var i = 0; i < sections.length; i++) {
              var s = sections[i];
              var match = (!upstream.value || s.dataset.upstream === upstream.value) && (!cause.value || s.dataset.cause === cause.value);
              s.hidden = !match;
              if (match) shown++;
            }
            count.textContent = shown + " of " + sections.length + " shown";
          }
          function choose(select, value) {
            for (var i = 0; i < select.options.length; i++) {
              if (select.options[i].value === value) { select.selectedIndex = i; return true; }
            }
            return false;
          }
          upstream.addEventListener("change", apply);
          cause.addEventListener("change", apply);
          var rows = document.querySelectorAll("#upstream-table tr[data-upstream], #causes tr[data-cause]");
          for (var j = 0; j < rows.length; j++) {
            rows[j].addEventListener("click", function (event) {
              if (event.target.closest("a")) return;
              var row = event.currentTarget;
              var found = row.dataset.upstream ? choose(upstream, row.dataset.upstream) : choose(cause, row.dataset.cause);
              if (!found) return;
              if (row.dataset.upstream) cause.selectedIndex = 0; else upstream.selectedIndex = 0;
              apply();
              form.scrollIntoView();
            });
            rows[j].style.cursor = "pointer";
            rows[j].title = "Show only these failing connections";
          }
          form.hidden = false;
          apply();
        })();
        """
}
