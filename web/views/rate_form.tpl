% rebase('layout.tpl')
% picked = set(form.get('extensions') or [])
<form method="post" class="panel stacked-grid" id="rate-form">
  <input type="hidden" name="csrf" value="{{csrf}}">
  % if errors.get('id'):
  <p class="error-message" role="alert">{{errors['id']}}</p>
  % end
  <div class="field">
    <label for="active">{{_("Activate")}}</label>
    <label class="switch"><input type="checkbox" name="active" value="1" id="active" {{'checked' if form.get('active') else ''}}><span class="slider"></span><span class="switch-label">{{_("Valid")}}</span></label>
  </div>
  <div class="field">
    <label for="remarks">{{_("Remarks")}}</label>
    <input id="remarks" name="remarks" value="{{form.get('remarks', '')}}" maxlength="400" placeholder="{{_("City landline")}}">
    % include('field_error.tpl', name='remarks')
  </div>
  <div class="field">
    <label for="prefix">{{_("Prefix")}}</label>
    <input id="prefix" name="prefix" value="{{form.get('prefix', '')}}" inputmode="numeric" maxlength="40" placeholder="9">
    % include('field_error.tpl', name='prefix')
  </div>
  <div class="field">
    <label for="length">{{_("Number Length")}}</label>
    <input id="length" name="length" value="{{form.get('length', '')}}" inputmode="numeric" maxlength="10">
    <span class="hint">{{_("The whole dialed number including the prefix; 0 matches any length.")}}</span>
    % include('field_error.tpl', name='length')
  </div>
  <div class="field">
    <label for="call_type">{{_("Call Type")}}</label>
    <select id="call_type" name="call_type">
      % for t in call_types:
      <option value="{{t}}" {{'selected' if form.get('call_type') == t else ''}}>{{type_label(t)}}</option>
      % end
    </select>
    <span class="hint">{{_("Reported in the Call Log and Statistics; extensions and departments may be barred from a type.")}}</span>
    % include('field_error.tpl', name='call_type')
  </div>
  % include('rate_site.tpl')
  <div class="field">
    <label for="initial_cost">{{_("Initial Cost ({currency})").format(currency=currency_label)}}</label>
    <input id="initial_cost" name="initial_cost" value="{{form.get('initial_cost', '')}}" inputmode="decimal" maxlength="20">
    % include('field_error.tpl', name='initial_cost')
  </div>
  <div class="field">
    <label for="initial_time">{{_("Initial Time (seconds)")}}</label>
    <input id="initial_time" name="initial_time" value="{{form.get('initial_time', '')}}" inputmode="numeric" maxlength="10">
    <span class="hint">{{_("Set Initial Cost and Initial Time to 0 when not needed.")}}</span>
    % include('field_error.tpl', name='initial_time')
  </div>
  <div class="field">
    <label for="rate">{{_("Rate ({currency} per billing unit)").format(currency=currency_label)}}</label>
    <input id="rate" name="rate" value="{{form.get('rate', '')}}" inputmode="decimal" maxlength="20" placeholder="0.05">
    % include('field_error.tpl', name='rate')
  </div>
  <div class="field">
    <label for="unit">{{_("Billing Unit (seconds)")}}</label>
    <input id="unit" name="unit" value="{{form.get('unit', '')}}" inputmode="numeric" maxlength="10">
    <span class="hint">{{_("Cost = Initial Cost + each started Billing Unit after the Initial Time × Rate.")}}</span>
    % include('field_error.tpl', name='unit')
  </div>
  <div class="field">
    <label for="start">{{_("Start Time")}}</label>
    <input id="start" name="start" value="{{form.get('start', '')}}" placeholder="00:00" maxlength="8">
    % include('field_error.tpl', name='start')
  </div>
  <div class="field">
    <label for="end">{{_("End Time")}}</label>
    <input id="end" name="end" value="{{form.get('end', '')}}" placeholder="24:00" maxlength="8">
    <span class="hint">{{_("A block like 22:00–06:00 runs past midnight; 00:00–24:00 is all day.")}}</span>
    % include('field_error.tpl', name='end')
  </div>
  <fieldset class="field wide" id="ext-picker">
    <legend>{{_("Extensions")}}</legend>
    <label class="tick"><input type="checkbox" name="all_extensions" value="1" id="all_extensions" {{'checked' if form.get('all_extensions') else ''}}> {{_("All extensions (also ones added later)")}}</label>
    % if all_exts:
    <input type="search" class="picker-filter" placeholder="{{_("filter extensions")}}" aria-label="{{_("Filter extensions")}}" data-filter="#ext-choices label">
    <div class="choices" id="ext-choices">
      % for number, name in all_exts:
      <label class="tick"><input type="checkbox" name="extensions" value="{{number}}" {{'checked' if number in picked else ''}}> <span class="mono">{{number}}</span> {{name}}</label>
      % end
    </div>
    % else:
    <p class="hint">{{_("There are no extensions yet.")}}</p>
    % end
    % include('field_error.tpl', name='extensions')
  </fieldset>
  % if offer_midnight:
  <div class="notice wide" role="alert" id="end-of-day-offer">
    <p>{{_("This rate ends at 23:59, and the end time is not included: calls started from 23:59:00 to 23:59:59 would get no rate. To run to midnight, end it at 24:00.")}}</p>
    <button type="submit" name="end_of_day" value="midnight" class="primary" id="use-midnight">{{_("End at 24:00 and save")}}</button>
    <button type="submit" name="end_of_day" value="keep" id="keep-2359">{{_("Keep 23:59 and save")}}</button>
  </div>
  % end
  <div class="buttons wide">
    <button type="submit" class="primary" id="save-rate">{{_("Save")}}</button>
    <a href="/rates" class="button subtle">{{_("Cancel")}}</a>
  </div>
</form>
