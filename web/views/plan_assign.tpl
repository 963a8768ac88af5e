% rebase('layout.tpl')
<form method="post" action="/plans/assign" class="panel" id="assign-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  % if errors.get('form'):
  <p class="error-message" role="alert" id="err-form">{{errors['form']}}</p>
  % end
  <div class="field">
    <label for="plan">{{_("Plan")}}</label>
    <select id="plan" name="plan">
      <option value="{{none}}">{{_("No plan of its own")}}</option>
      % for p in plans:
      <option value="{{p.id}}" {{'selected' if form.get('plan') == str(p.id) else ''}}>{{p.name}}</option>
      % end
    </select>
    % include('field_error.tpl', name='plan')
    <span class="hint">{{_("Without a plan of its own an extension or account uses its department's plan, if any.")}}</span>
  </div>
  % if departments:
  <h2>{{_("Departments")}}</h2>
  <div class="table-wrap">
  <table class="list" id="assign-departments">
    <thead><tr><th class="check"><input type="checkbox" data-select-all="d" aria-label="{{_("Select all departments")}}"></th><th>{{_("Department")}}</th><th>{{_("Plan")}}</th></tr></thead>
    <tbody>
    % for dep_id, dep_name, dep_plan in departments:
    <tr data-department="{{dep_id}}"><td class="check"><input type="checkbox" name="d" value="{{dep_id}}" aria-label="{{_("Select {name}").format(name=dep_name)}}"></td><td class="name">{{dep_name}}</td><td>{{names.get(dep_plan, '')}}</td></tr>
    % end
    </tbody>
  </table>
  </div>
  % end
  <h2>{{_("Extensions and accounts")}}</h2>
  <div class="table-wrap">
  <table class="list" id="assign-payers">
    <thead><tr><th class="check"><input type="checkbox" data-select-all="n" aria-label="{{_("Select all extensions and accounts")}}"></th><th>{{_("Number")}}</th><th>{{_("Name")}}</th><th>{{_("Own plan")}}</th></tr></thead>
    <tbody>
    % for number, name, own, kind in payers:
    <tr data-number="{{number}}"><td class="check"><input type="checkbox" name="n" value="{{number}}" aria-label="{{_("Select {number}").format(number=number)}}"></td><td class="mono">{{number}}</td><td class="name">{{name}}{{(' (' + _("account") + ')') if kind == 'account' else ''}}</td><td>{{names.get(own, '')}}</td></tr>
    % end
    </tbody>
  </table>
  </div>
  <div class="buttons">
    <button type="submit" class="primary" id="assign-plan">{{_("Assign")}}</button>
    <a href="/plans" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
