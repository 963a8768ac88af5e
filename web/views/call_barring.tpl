% rebase('layout.tpl')
<p class="hint">{{_("Calls of a department's extensions and accounts to a ticked call type are denied (their own barred types, on their edit page, count too). Free (emergency) calls can never be barred.")}}</p>
% if error:
<p class="error-message" role="alert" id="err-form">{{error}}</p>
% end
% if not departments:
<div class="empty" id="no-departments">{{_("There are no departments yet.")}}</div>
% else:
<form method="post" action="/barring" id="barring-form">
<input type="hidden" name="csrf" value="{{csrf}}">
<div class="table-wrap">
<table class="list stack" id="barring-table">
  <thead><tr><th>{{_("Department")}}</th>
  % for t in barrable:
    <th>{{type_label(t)}}</th>
  % end
  </tr></thead>
  <tbody>
  % for d in departments:
  % barred = parse(d.barred_types)
  <tr data-department="{{d.id}}"><td class="name" data-label="{{_("Department")}}">{{d.name}}</td>
    % for t in barrable:
    <td data-label="{{type_label(t)}}"><input type="checkbox" name="barred_{{d.id}}" value="{{t}}" {{'checked' if t in barred else ''}} aria-label="{{_("Bar {type} calls of {department}").format(type=type_label(t), department=d.name)}}"></td>
    % end
  </tr>
  % end
  </tbody>
</table>
</div>
<div class="buttons"><button type="submit" class="primary" id="save-barring">{{_("Save")}}</button>
  <a href="/rates" class="button subtle">{{_("Back to Rate")}}</a></div>
</form>
% end
