% rebase('layout.tpl')
<p class="hint">{{_("After a rate was wrong: re-rate the charged calls of a period under the rates in force now. The preview shows every call whose cost changes; nothing is charged until you apply it, and each changed call then gets one adjustment.")}}</p>
<form method="post" action="/rates/rerate" class="panel stacked" id="rerate-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  % if errors.get('form'):
  <p class="error-message" role="alert" id="err-form">{{errors['form']}}</p>
  % end
  <label for="rerate-from">{{_("From")}}</label>
  <input type="date" id="rerate-from" name="from" value="{{form['from']}}" required>
  <label for="rerate-to">{{_("To")}}</label>
  <input type="date" id="rerate-to" name="to" value="{{form['to']}}" required>
  <label for="rerate-extensions">{{_("Extensions or accounts (optional, separated by spaces)")}}</label>
  <input id="rerate-extensions" name="extensions" value="{{form['extensions']}}" maxlength="2000" placeholder="{{_("all")}}">
  <label for="rerate-department">{{_("or a department (optional)")}}</label>
  <select id="rerate-department" name="department">
    <option value="">{{_("all")}}</option>
    % for name in departments:
    <option value="{{name}}" {{'selected' if name == form['department'] else ''}}>{{name}}</option>
    % end
  </select>
  <div class="buttons">
    <button type="submit" class="primary" id="rerate-preview">{{_("Preview")}}</button>
    <a href="/rates" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
<h2>{{_("Re-rating runs")}}</h2>
% if not runs:
<div class="empty" id="no-runs">{{_("No re-rating yet.")}}</div>
% else:
<div class="table-wrap">
<table class="list stack" id="run-table">
  <thead><tr><th>{{_("Run")}}</th><th>{{_("Created")}}</th><th>{{_("Calls")}}</th><th>{{_("Operator")}}</th>
    <th class="num">{{_("Changed calls")}}</th><th class="num">{{_("Difference")}}</th><th>{{_("Status")}}</th><th>{{_("Applied")}}</th></tr></thead>
  <tbody>
  % for r in runs:
  <tr data-run="{{r.id}}">
    <td data-label="{{_("Run")}}"><a href="/rates/rerate/{{r.id}}">#{{r.id}}</a></td>
    <td data-label="{{_("Created")}}">{{when(r.created_utc)}}</td>
    <td data-label="{{_("Calls")}}">{{describe(r)}}</td>
    <td data-label="{{_("Operator")}}">{{r.operator}}</td>
    <td class="num" data-label="{{_("Changed calls")}}">{{num(r.changed)}}</td>
    <td class="num" data-label="{{_("Difference")}}">{{fmt(r.difference)}}</td>
    <td data-label="{{_("Status")}}"><span class="badge {{'on' if r.state == 'applied' else ''}}">{{_(states[r.state])}}</span></td>
    <td data-label="{{_("Applied")}}">{{when(r.applied_utc) if r.applied_utc else ''}}
      % if r.state == 'applied':
      {{_("{applied} adjusted, {skipped} skipped").format(applied=num(r.applied), skipped=num(r.skipped))}}
      % end
    </td>
  </tr>
  % end
  </tbody>
</table>
</div>
% end
