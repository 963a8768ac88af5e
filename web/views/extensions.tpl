% rebase('layout.tpl')
<form method="get" action="/extensions" class="searchbar" id="ext-search">
  <label>{{_("Extension")}} <input name="number" value="{{filters['number']}}" placeholder="{{_("number or name")}}" maxlength="40"></label>
  <label>{{_("Status")}}
    <select name="status">
      <option value="">{{_("All")}}</option>
      <option value="unlocked" {{'selected' if filters['status'] == 'unlocked' else ''}}>{{_("Unlocked")}}</option>
      <option value="locked" {{'selected' if filters['status'] == 'locked' else ''}}>{{_("Locked")}}</option>
    </select></label>
  <label>{{_("Payment Type")}}
    <select name="payment_type">
      <option value="">{{_("All")}}</option>
      <option value="prepaid" {{'selected' if filters['payment_type'] == 'prepaid' else ''}}>{{_("Prepaid")}}</option>
      <option value="postpaid" {{'selected' if filters['payment_type'] == 'postpaid' else ''}}>{{_("Postpaid")}}</option>
    </select></label>
  <label>{{_("Billing")}}
    <select name="billing">
      <option value="">{{_("All")}}</option>
      <option value="on" {{'selected' if filters['billing'] == 'on' else ''}}>{{_("Enabled")}}</option>
      <option value="off" {{'selected' if filters['billing'] == 'off' else ''}}>{{_("Not enabled")}}</option>
    </select></label>
  % include('department_filter.tpl')
  % include('site_filter.tpl')
  <label class="tick"><input type="checkbox" name="low" value="1" id="filter-low" {{'checked' if filters['low'] == '1' else ''}}> {{_("Low balance only")}}</label>
  <button type="submit">{{_("Search")}}</button>
  <a href="/extensions" class="button subtle">{{_("Reset")}}</a>
</form>
% if low_count:
<p class="notice" id="low-count"><a href="/extensions?low=1">{{_("{count} extension(s) below their low-balance threshold").format(count=low_count)}}</a></p>
% end

<form method="get" id="ext-selection">
  <input type="hidden" name="back" value="{{url()}}">
  <div class="toolbar">
    % if may('/extensions/recharge'):
    <button type="submit" formaction="/extensions/recharge" id="recharge-selected" class="primary" data-need-selection="n" data-need-selection-message="{{_("Select at least one row first.")}}">{{_("Recharge")}}</button>
    % end
    % if may('/extensions/bulk-edit'):
    <button type="submit" formaction="/extensions/bulk-edit" id="bulk-edit" data-need-selection="n" data-need-selection-message="{{_("Select at least one row first.")}}">{{_("Bulk Edit")}}</button>
    % end
    <span class="hint" data-selection-count data-selected="{{_("{count} selected")}}" data-none="{{_("Select extensions to recharge or edit them together.")}}"></span>
    % if page.total and page.total > len(page.rows):
    <label class="hint every-page"><input type="checkbox" name="all" value="1" id="select-every-page">
      {{_("All {count} extensions that match this search, on every page").format(count=page.total)}}</label>
    % for key, value in filters.items():
    <input type="hidden" name="{{key}}" value="{{value}}">
    % end
    % end
  </div>
  % if not page.rows:
  <div class="empty">
    % if any(filters.values()):
    {{_("No extension matches this search.")}} <a href="/extensions">{{_("Show all extensions")}}</a>.
    % else:
    {{_("No extensions yet. Extensions appear here when the PBX configuration is synced and when an extension makes its first call; billing is off for each until you enable it with Bulk Edit.")}}
    % end
  </div>
  % else:
  <div class="table-wrap">
  <table class="list stack" id="ext-table">
    <thead><tr>
      <th class="check"><input type="checkbox" data-select-all="n" aria-label="{{_("Select all on this page")}}"></th>
      <th>{{_("Extension")}}</th><th>{{_("Name")}}</th><th>{{_("Billing")}}</th><th>{{_("Payment Type")}}</th><th>{{_("Status")}}</th>
      <th class="num">{{_("Credit")}}</th><th class="num">{{_("Balance")}}</th><th class="num">{{_("Total Recharges")}}</th><th>{{_("Actions")}}</th>
    </tr></thead>
    <tbody>
    % for e in page.rows:
    <tr data-number="{{e.number}}" class="{{'off' if not e.billing_enabled else ''}}">
      % if e.site != here:  # another site's (the Site filter): its box acts on it
      <td class="check" data-label="{{_("Site")}}">{{e.site}}</td>
      % else:
      <td class="check" data-label="{{_("Select")}}"><input type="checkbox" name="n" value="{{e.number}}" aria-label="{{_("Select {number}").format(number=e.number)}}"></td>
      % end
      <td class="mono" data-label="{{_("Extension")}}">{{e.number}}{{(' (' + _("gone from PBX") + ')') if e.missing else ''}}</td>
      <td class="name" data-label="{{_("Name")}}">{{e.name}}</td>
      <td data-label="{{_("Billing")}}"><span class="badge {{'on' if e.billing_enabled else 'off'}}">{{_("Enabled") if e.billing_enabled else _("Off")}}</span></td>
      <td data-label="{{_("Payment Type")}}">{{_(e.payment_type.capitalize())}}</td>
      <td data-label="{{_("Status")}}"><span class="badge {{'locked' if e.status == 'locked' else 'on'}}">{{_(e.status.capitalize())}}</span></td>
      <td class="num" data-label="{{_("Credit")}}">{{fmt(e.credit)}}</td>
      <td class="num {{'negative' if e.balance < 0 else ''}}" data-label="{{_("Balance")}}">{{fmt(e.balance)}}</td>
      <td class="num" data-label="{{_("Total Recharges")}}">{{fmt(e.total_recharges)}}</td>
      <td class="actions" data-label="{{_("Actions")}}">
        % if e.site == here and may('/extensions/recharge'):
        <a href="/extensions/recharge?n={{qs(e.number)}}" class="button small" title="{{_("Recharge {number}").format(number=e.number)}}">{{_("Recharge")}}</a>
        % end
        % if e.site == here and may('/extensions/edit'):
        <a href="/extensions/edit?n={{qs(e.number)}}" class="button small subtle" title="{{_("Edit {number}").format(number=e.number)}}">{{_("Edit")}}</a>
        <a href="/extensions/adjust?n={{qs(e.number)}}" class="button small subtle" title="{{_("Correct the balance of {number}").format(number=e.number)}}">{{_("Adjust")}}</a>
        % if e.number in checked_in:
        <a href="/stays/check-out?n={{qs(e.number)}}" class="button small subtle check-out" title="{{_("Check the guest out of {number}").format(number=e.number)}}">{{_("Check out")}}</a>
        % else:
        <a href="/stays/check-in?n={{qs(e.number)}}" class="button small subtle check-in" title="{{_("Check a guest in on {number}").format(number=e.number)}}">{{_("Check in")}}</a>
        % end
        % end
      </td>
    </tr>
    % end
    </tbody>
  </table>
  </div>
  % end
</form>
% include('pager.tpl')
