% rebase('layout.tpl')
<p><a href="/rates/rerate">‹ {{_("Re-rating")}}</a></p>
<div class="panel" id="run-summary">
  <p>{{_("Calls of {calls}, rated under the rates in force on {created}.").format(calls=describe(run), created=when(run.created_utc))}}
    <span class="badge {{'on' if run.state == 'applied' else ''}}" id="run-state">{{_(states[run.state])}}</span></p>
  <table class="info" id="run-totals">
    <tr><th>{{_("Calls whose cost changes")}}</th><td class="num" id="total-count">{{num(run.changed)}}</td></tr>
    <tr><th>{{_("Old cost")}}</th><td class="num" id="total-old">{{fmt(run.old_total)}}</td></tr>
    <tr><th>{{_("New cost")}}</th><td class="num" id="total-new">{{fmt(run.new_total)}}</td></tr>
    <tr><th>{{_("Difference")}}</th><td class="num" id="total-difference">{{fmt(run.difference)}}</td></tr>
    % if run.uncovered:
    <tr><th>{{_("Calls no rate covers now (not changed)")}}</th><td class="num" id="total-uncovered">{{num(run.uncovered)}}</td></tr>
    % end
    % if run.state == 'applied':
    <tr><th>{{_("Adjusted")}}</th><td class="num" id="total-applied">{{num(run.applied)}}</td></tr>
    <tr><th>{{_("Skipped (changed since the preview)")}}</th><td class="num" id="total-skipped">{{num(run.skipped)}}</td></tr>
    % end
  </table>
  % if busy:
  <p id="apply-progress">{{_("Applying: {done} of {count} calls done. Calls go on meanwhile.").format(done=num(done), count=num(run.changed))}}</p>
  <progress max="{{run.changed}}" value="{{done}}"></progress>
  % elif run.state in ('preview', 'applying') and run.changed:
  <form method="post" action="/rates/rerate/{{run.id}}/apply" class="buttons" id="apply-form"
        data-confirm="{{_("Apply re-rating #{run}? {count} call(s) get an adjustment; the balances change by {amount} in all.").format(run=run.id, count=num(run.changed), amount=fmt(-run.difference))}}">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <button type="submit" class="primary" id="apply-run">{{_("Apply") if run.state == 'preview' else _("Apply the rest")}}</button>
  </form>
  % end
</div>
% if page.rows:
<div class="table-wrap">
<table class="list stack" id="item-table">
  <thead><tr><th>{{_("Start Time")}}</th><th>{{_("Extension")}}</th><th>{{_("Dialed Number")}}</th><th class="num">{{_("Duration (s)")}}</th>
    <th>{{_("Old rate")}}</th><th>{{_("New rate")}}</th><th class="num">{{_("Old cost")}}</th><th class="num">{{_("New cost")}}</th><th class="num">{{_("Difference")}}</th><th>{{_("Status")}}</th></tr></thead>
  <tbody>
  % for i in page.rows:
  <tr data-call="{{i.uniqueid}}">
    <td data-label="{{_("Start Time")}}">{{when(i.started_utc)}}</td>
    <td class="mono" data-label="{{_("Extension")}}">{{i.number}}</td>
    <td class="mono" data-label="{{_("Dialed Number")}}">{{i.dialed}}</td>
    <td class="num" data-label="{{_("Duration (s)")}}">{{i.answered_s}}{{_(" ({free} s free)").format(free=i.free_s) if i.free_s else ''}}</td>
    <td data-label="{{_("Old rate")}}">{{i.old_rate}}</td>
    <td data-label="{{_("New rate")}}">{{i.new_rate}}</td>
    <td class="num" data-label="{{_("Old cost")}}">{{fmt(i.old_cost)}}</td>
    <td class="num" data-label="{{_("New cost")}}">{{fmt(i.new_cost)}}</td>
    <td class="num" data-label="{{_("Difference")}}">{{fmt(i.difference)}}</td>
    <td data-label="{{_("Status")}}" title="{{i.note}}">{{_(states[i.state])}}</td>
  </tr>
  % end
  </tbody>
</table>
</div>
<nav class="pager" aria-label="{{_("Pages")}}">
  <span class="count">{{_("{first}–{last} of {total}").format(first=page.first_index, last=page.last_index, total=page.total)}}</span>
  % if page.page > 1:
  <a href="{{url(page=page.page - 1)}}" rel="prev">‹ {{_("Previous")}}</a>
  % end
  <span>{{_("Page {page} of {pages}").format(page=page.page, pages=page.pages)}}</span>
  % if page.has_next:
  <a href="{{url(page=page.page + 1)}}" rel="next">{{_("Next")}} ›</a>
  % end
</nav>
% elif not run.changed:
<div class="empty" id="no-changes">{{_("No call of this choice costs anything else under today's rates.")}}</div>
% end
% if uncovered:
<h2>{{_("Calls no rate covers now")}}</h2>
<p class="hint">{{_("These calls keep their cost: no rate in force now applies to them.")}}</p>
<div class="table-wrap">
<table class="list stack" id="uncovered-table">
  <thead><tr><th>{{_("Start Time")}}</th><th>{{_("Extension")}}</th><th>{{_("Dialed Number")}}</th><th class="num">{{_("Duration (s)")}}</th><th>{{_("Rate")}}</th><th class="num">{{_("Cost")}}</th></tr></thead>
  <tbody>
  % for i in uncovered:
  <tr data-call="{{i.uniqueid}}">
    <td data-label="{{_("Start Time")}}">{{when(i.started_utc)}}</td>
    <td class="mono" data-label="{{_("Extension")}}">{{i.number}}</td>
    <td class="mono" data-label="{{_("Dialed Number")}}">{{i.dialed}}</td>
    <td class="num" data-label="{{_("Duration (s)")}}">{{i.answered_s}}</td>
    <td data-label="{{_("Rate")}}">{{i.old_rate}}</td>
    <td class="num" data-label="{{_("Cost")}}">{{fmt(i.old_cost)}}</td>
  </tr>
  % end
  </tbody>
</table>
</div>
<nav class="pager" aria-label="{{_("Pages")}}">
  % if upage.page > 1:
  <a href="{{url(upage=upage.page - 1)}}" rel="prev">‹ {{_("Previous")}}</a>
  % end
  <span>{{_("Page {page} of {pages}").format(page=upage.page, pages=upage.pages)}}</span>
  % if upage.has_next:
  <a href="{{url(upage=upage.page + 1)}}" rel="next">{{_("Next")}} ›</a>
  % end
</nav>
% end
