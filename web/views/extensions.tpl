% rebase('layout.tpl')
<form method="get" action="/extensions" class="searchbar" id="ext-search">
  <label>Extension <input name="number" value="{{filters['number']}}" placeholder="number or name" maxlength="40"></label>
  <label>Status
    <select name="status">
      <option value="">All</option>
      <option value="unlocked" {{'selected' if filters['status'] == 'unlocked' else ''}}>Unlocked</option>
      <option value="locked" {{'selected' if filters['status'] == 'locked' else ''}}>Locked</option>
    </select></label>
  <label>Payment Type
    <select name="payment_type">
      <option value="">All</option>
      <option value="prepaid" {{'selected' if filters['payment_type'] == 'prepaid' else ''}}>Prepaid</option>
      <option value="postpaid" {{'selected' if filters['payment_type'] == 'postpaid' else ''}}>Postpaid</option>
    </select></label>
  <label>Billing
    <select name="billing">
      <option value="">All</option>
      <option value="on" {{'selected' if filters['billing'] == 'on' else ''}}>Enabled</option>
      <option value="off" {{'selected' if filters['billing'] == 'off' else ''}}>Not enabled</option>
    </select></label>
  <label class="tick"><input type="checkbox" name="low" value="1" id="filter-low" {{'checked' if filters['low'] == '1' else ''}}> Low balance only</label>
  <button type="submit">Search</button>
  <a href="/extensions" class="button subtle">Reset</a>
</form>
% if low_count:
<p class="notice" id="low-count"><a href="/extensions?low=1">{{low_count}} extension(s) below their low-balance threshold</a></p>
% end

<form method="get" id="ext-selection">
  <input type="hidden" name="back" value="{{url()}}">
  <div class="toolbar">
    <button type="submit" formaction="/extensions/recharge" id="recharge-selected" class="primary" data-need-selection="n">Recharge</button>
    <button type="submit" formaction="/extensions/bulk-edit" id="bulk-edit" data-need-selection="n">Bulk Edit</button>
    <span class="hint" data-selection-count></span>
    % if page.total and page.total > len(page.rows):
    <label class="hint every-page"><input type="checkbox" name="all" value="1" id="select-every-page">
      All {{page.total}} extensions that match this search, on every page</label>
    % for key, value in filters.items():
    <input type="hidden" name="{{key}}" value="{{value}}">
    % end
    % end
  </div>
  % if not page.rows:
  <div class="empty">
    % if any(filters.values()):
    No extension matches this search. <a href="/extensions">Show all extensions</a>.
    % else:
    No extensions yet. Extensions appear here when the PBX configuration is synced and
    when an extension makes its first call; billing is off for each until you enable it
    with Bulk Edit.
    % end
  </div>
  % else:
  <div class="table-wrap">
  <table class="list stack" id="ext-table">
    <thead><tr>
      <th class="check"><input type="checkbox" data-select-all="n" aria-label="Select all on this page"></th>
      <th>Extension</th><th>Name</th><th>Billing</th><th>Payment Type</th><th>Status</th>
      <th class="num">Credit</th><th class="num">Balance</th><th class="num">Total Recharges</th><th>Actions</th>
    </tr></thead>
    <tbody>
    % for e in page.rows:
    <tr data-number="{{e.number}}" class="{{'off' if not e.billing_enabled else ''}}">
      <td class="check" data-label="Select"><input type="checkbox" name="n" value="{{e.number}}" aria-label="Select {{e.number}}"></td>
      <td class="mono" data-label="Extension">{{e.number}}{{' (gone from PBX)' if e.missing else ''}}</td>
      <td class="name" data-label="Name">{{e.name}}</td>
      <td data-label="Billing"><span class="badge {{'on' if e.billing_enabled else 'off'}}">{{'Enabled' if e.billing_enabled else 'Off'}}</span></td>
      <td data-label="Payment Type">{{e.payment_type.capitalize()}}</td>
      <td data-label="Status"><span class="badge {{'locked' if e.status == 'locked' else 'on'}}">{{e.status.capitalize()}}</span></td>
      <td class="num" data-label="Credit">{{fmt(e.credit)}}</td>
      <td class="num {{'negative' if e.balance < 0 else ''}}" data-label="Balance">{{fmt(e.balance)}}</td>
      <td class="num" data-label="Total Recharges">{{fmt(e.total_recharges)}}</td>
      <td class="actions" data-label="Actions">
        <a href="/extensions/recharge?n={{qs(e.number)}}" class="button small" title="Recharge {{e.number}}">Recharge</a>
        <a href="/extensions/edit?n={{qs(e.number)}}" class="button small subtle" title="Edit {{e.number}}">Edit</a>
        <a href="/extensions/adjust?n={{qs(e.number)}}" class="button small subtle" title="Correct the balance of {{e.number}}">Adjust</a>
        % if e.number in checked_in:
        <a href="/stays/check-out?n={{qs(e.number)}}" class="button small subtle check-out" title="Check the guest out of {{e.number}}">Check out</a>
        % else:
        <a href="/stays/check-in?n={{qs(e.number)}}" class="button small subtle check-in" title="Check a guest in on {{e.number}}">Check in</a>
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
