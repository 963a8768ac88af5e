% rebase('layout.tpl')
<form method="post" action="/extensions/recharge" class="panel" id="recharge-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="back" value="{{back}}">
  <p>{{_("Recharge the {count} selected extension(s); each gets the amount added to its balance. The next step shows the balances before and after, to confirm.").format(count=len(selected))}}</p>
  <div class="table-wrap small">
  <table class="list stack">
    <thead><tr><th>{{_("Extension")}}</th><th>{{_("Name")}}</th><th>{{_("Payment Type")}}</th><th class="num">{{_("Balance")}}</th></tr></thead>
    <tbody>
    % for e in selected:
    <tr><td class="mono" data-label="{{_("Extension")}}">{{e.number}}<input type="hidden" name="n" value="{{e.number}}"></td><td data-label="{{_("Name")}}">{{e.name}}</td>
        <td data-label="{{_("Payment Type")}}">{{_(e.payment_type.capitalize())}}</td><td class="num" data-label="{{_("Balance")}}">{{fmt(e.balance)}}</td></tr>
    % end
    </tbody>
  </table>
  </div>
  <div class="field">
    <label for="amount">{{_("Recharge Amount ({currency})").format(currency=currency_label)}}</label>
    <input id="amount" name="amount" value="{{amount}}" inputmode="decimal" placeholder="10.00" required maxlength="20">
    % include('field_error.tpl', name='amount')
  </div>
  <div class="buttons">
    <button type="submit" class="primary" id="do-recharge">{{_("Review recharge")}}</button>
    <a href="{{back}}" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
