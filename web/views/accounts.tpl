% rebase('layout.tpl')
<form method="get" action="/accounts" class="searchbar" id="account-search">
  <label>{{_("Account")}} <input name="q" value="{{search}}" placeholder="{{_("number or name")}}" maxlength="40"></label>
  % include('department_filter.tpl')
  <button type="submit">{{_("Search")}}</button>
  <a href="/accounts" class="button subtle">{{_("Reset")}}</a>
  % if may('/accounts/new'):
  <a href="/accounts/new" class="button primary" id="new-account">{{_("New Account")}}</a>
  % end
</form>
<p class="hint">{{_("An account pays the calls made with its number and PIN from any extension that has account billing on (Extensions, Edit).")}}</p>
% if not page.rows:
<div class="empty">{{_("No account matches this search.") if search else _("No accounts yet.")}}</div>
% else:
<div class="table-wrap">
<table class="list stack" id="account-table">
  <thead><tr><th>{{_("Account")}}</th><th>{{_("Name")}}</th><th>{{_("Payment Type")}}</th><th>{{_("Status")}}</th>
    <th class="num">{{_("Credit")}}</th><th class="num">{{_("Balance")}}</th><th class="num">{{_("Total Recharges")}}</th><th>{{_("Actions")}}</th></tr></thead>
  <tbody>
  % for e in page.rows:
  <tr data-number="{{e.number}}">
    <td class="mono" data-label="{{_("Account")}}">{{e.number}}</td>
    <td class="name" data-label="{{_("Name")}}">{{e.name}}
      % if box_site() and not e.site:  # a group-wide account (sites.py)
      <span class="badge site">{{_("All sites")}}</span>
      % end
    </td>
    <td data-label="{{_("Payment Type")}}">{{_(e.payment_type.capitalize())}}</td>
    <td data-label="{{_("Status")}}"><span class="badge {{'locked' if e.status == 'locked' else 'on'}}">{{_(e.status.capitalize())}}</span></td>
    <td class="num" data-label="{{_("Credit")}}">{{fmt(e.credit)}}</td>
    <td class="num {{'negative' if e.balance < 0 else ''}}" data-label="{{_("Balance")}}">{{fmt(e.balance)}}</td>
    <td class="num" data-label="{{_("Total Recharges")}}">{{fmt(e.total_recharges)}}</td>
    <td class="actions" data-label="{{_("Actions")}}">
      % if may('/extensions/recharge'):
      <a href="/extensions/recharge?n={{qs(e.number)}}&amp;back=/accounts" class="button small" title="{{_("Recharge {number}").format(number=e.number)}}">{{_("Recharge")}}</a>
      % end
      % if may('/accounts/edit'):
      <a href="/accounts/edit?n={{qs(e.number)}}" class="button small subtle" title="{{_("Edit {number}").format(number=e.number)}}">{{_("Edit")}}</a>
      % end
      % if may('/extensions/adjust'):
      <a href="/extensions/adjust?n={{qs(e.number)}}" class="button small subtle" title="{{_("Correct the balance of {number}").format(number=e.number)}}">{{_("Adjust")}}</a>
      % end
    </td>
  </tr>
  % end
  </tbody>
</table>
</div>
% include('pager.tpl')
% end
