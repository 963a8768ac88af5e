% rebase('layout.tpl')
<form method="post" action="/extensions/recharge" class="panel" id="recharge-confirm">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="back" value="{{back}}">
  <input type="hidden" name="form_page" value="{{form_page}}">
  <input type="hidden" name="amount" value="{{plain(amount)}}">
  <p id="confirm-summary">Recharge <strong>{{len(selected)}} extension(s)</strong> with
    <strong id="confirm-amount">{{fmt(amount)}}</strong> each{{(' (' + fmt(amount * len(selected)) + ' in all)') if len(selected) > 1 else ''}}?</p>
  % if billing_off:
  <p class="notice" role="alert" id="billing-off-warning">Billing is off for {{', '.join(billing_off[:20])}}{{(' and ' + str(len(billing_off) - 20) + ' more') if len(billing_off) > 20 else ''}}:
    the money is added to the balance, but their calls are not billed or limited until billing is enabled (Bulk Edit or Edit).</p>
  % end
  <div class="table-wrap small">
  <table class="list stack" id="confirm-table">
    <thead><tr><th>Extension</th><th>Name</th><th>Billing</th><th class="num">Balance now</th><th class="num">Recharge</th><th class="num">Balance after</th></tr></thead>
    <tbody>
    % for e in selected:
    <tr data-number="{{e.number}}"><td class="mono" data-label="Extension">{{e.number}}<input type="hidden" name="n" value="{{e.number}}"></td>
        <td data-label="Name">{{e.name}}</td>
        <td data-label="Billing"><span class="badge {{'on' if e.billing_enabled else 'off'}}">{{'Enabled' if e.billing_enabled else 'Off'}}</span></td>
        <td class="num" data-label="Balance now">{{fmt(e.balance)}}</td><td class="num" data-label="Recharge">+{{fmt(amount)}}</td>
        <td class="num" data-label="Balance after">{{fmt(e.balance + amount)}}</td></tr>
    % end
    </tbody>
  </table>
  </div>
  <div class="buttons">
    <button type="submit" name="step" value="confirm" class="primary" id="confirm-recharge">Confirm recharge of {{fmt(amount)}}</button>
    <button type="submit" name="step" value="change" id="change-recharge">Change the amount</button>
    <a href="{{back}}" class="button subtle">Cancel</a>
  </div>
</form>
