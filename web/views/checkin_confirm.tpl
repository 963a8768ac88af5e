% rebase('layout.tpl')
% from bottle import html_escape as escape
<form method="post" action="/stays/check-in" class="panel" id="checkin-confirm">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="n" value="{{ext.number}}">
  <input type="hidden" name="guest" value="{{guest}}">
  <input type="hidden" name="deposit" value="{{plain(deposit) if deposit else ''}}">
  <input type="hidden" name="credit" value="{{plain(credit) if credit is not None else ''}}">
  <p id="confirm-summary">{{!_("Check {guest} in on {number}?").format(guest='<strong>' + escape(guest) + '</strong>', number='<strong class="mono">' + escape(ext.number) + '</strong>')}}</p>
  <table class="info" id="confirm-table">
    <tr><th>{{_("Guest")}}</th><td>{{guest}}</td></tr>
    <tr><th>{{_("Balance now")}}</th><td id="balance-before">{{fmt(ext.balance)}}</td></tr>
    <tr><th>{{_("Deposit")}}</th><td id="confirm-deposit">{{fmt(deposit)}}</td></tr>
    <tr><th>{{_("Balance after")}}</th><td id="balance-after">{{fmt(ext.balance + deposit)}}</td></tr>
    <tr><th>{{_("Credit")}}</th><td>{{fmt(credit) if credit is not None else _("unchanged ({credit})").format(credit=fmt(ext.credit))}}</td></tr>
  </table>
  <div class="buttons">
    <button type="submit" name="step" value="confirm" class="primary" id="confirm-checkin">{{_("Confirm check-in")}}</button>
    <button type="submit" name="step" value="change" id="change-checkin">{{_("Change it")}}</button>
    <a href="/extensions" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
