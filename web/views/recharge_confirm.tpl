% rebase('layout.tpl')
% from bottle import html_escape as escape
<form method="post" action="/extensions/recharge" class="panel" id="recharge-confirm">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="back" value="{{back}}">
  <input type="hidden" name="form_page" value="{{form_page}}">
  <input type="hidden" name="amount" value="{{plain(amount)}}">
  <p id="confirm-summary">{{!(_("Recharge {count} with {amount} each ({total} in all)?") if len(selected) > 1 else _("Recharge {count} with {amount} each?")).format(count='<strong>' + escape(_("{count} extension(s)").format(count=len(selected))) + '</strong>', amount='<strong id="confirm-amount">' + escape(fmt(amount)) + '</strong>', total=escape(fmt(amount * len(selected))))}}</p>
  % if billing_off:
  <p class="notice" role="alert" id="billing-off-warning">{{(_("Billing is off for {numbers} and {count} more: the money is added to the balance, but their calls are not billed or limited until billing is enabled (Bulk Edit or Edit).") if len(billing_off) > 20 else _("Billing is off for {numbers}: the money is added to the balance, but their calls are not billed or limited until billing is enabled (Bulk Edit or Edit).")).format(numbers=', '.join(billing_off[:20]), count=len(billing_off) - 20)}}</p>
  % end
  <div class="table-wrap small">
  <table class="list stack" id="confirm-table">
    <thead><tr><th>{{_("Extension")}}</th><th>{{_("Name")}}</th><th>{{_("Billing")}}</th><th class="num">{{_("Balance now")}}</th><th class="num">{{_("Recharge")}}</th><th class="num">{{_("Balance after")}}</th></tr></thead>
    <tbody>
    % for e in selected:
    <tr data-number="{{e.number}}"><td class="mono" data-label="{{_("Extension")}}">{{e.number}}<input type="hidden" name="n" value="{{e.number}}"></td>
        <td data-label="{{_("Name")}}">{{e.name}}</td>
        <td data-label="{{_("Billing")}}"><span class="badge {{'on' if e.billing_enabled else 'off'}}">{{_("Enabled") if e.billing_enabled else _("Off")}}</span></td>
        <td class="num" data-label="{{_("Balance now")}}">{{fmt(e.balance)}}</td><td class="num" data-label="{{_("Recharge")}}">+{{fmt(amount)}}</td>
        <td class="num" data-label="{{_("Balance after")}}">{{fmt(e.balance + amount)}}</td></tr>
    % end
    </tbody>
  </table>
  </div>
  <div class="buttons">
    <button type="submit" name="step" value="confirm" class="primary" id="confirm-recharge">{{_("Confirm recharge of {amount}").format(amount=fmt(amount))}}</button>
    <button type="submit" name="step" value="change" id="change-recharge">{{_("Change the amount")}}</button>
    <a href="{{back}}" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
