% rebase('layout.tpl')
% from bottle import html_escape as e
<form method="get" action="/rates/test" class="panel stacked-grid" id="rate-test-form">
  <p class="wide">{{_("Which rate would bill this call, and what would it cost?")}}</p>
  <div class="field">
    <label for="extension">{{_("Extension")}}</label>
    <input id="extension" name="extension" value="{{form['extension']}}" maxlength="32">
    % include('field_error.tpl', name='extension')
  </div>
  <div class="field">
    <label for="dialed">{{_("Dialed Number")}}</label>
    <input id="dialed" name="dialed" value="{{form['dialed']}}" inputmode="tel" maxlength="64">
    % include('field_error.tpl', name='dialed')
  </div>
  <div class="field">
    <label for="at">{{_("Call Start (box time)")}}</label>
    <input id="at" name="at" type="datetime-local" value="{{form['at']}}">
    <span class="hint">{{_("Empty: now.")}}</span>
    % include('field_error.tpl', name='at')
  </div>
  <div class="field">
    <label for="duration">{{_("Answered Duration (seconds)")}}</label>
    <input id="duration" name="duration" value="{{form['duration'] or '60'}}" inputmode="numeric" maxlength="7">
    % include('field_error.tpl', name='duration')
  </div>
  <div class="buttons wide"><button type="submit" class="primary" id="run-test">{{_("Test")}}</button>
    <a href="/rates" class="button subtle">{{_("Back to Rate")}}</a></div>
</form>
% if result:
<div class="panel result" id="rate-test-result">
  % if result['rate']:
  % r = result['rate']
  <p>{{!_('Rate <strong>{id}</strong> matches: {name} (prefix <span class="mono">{prefix}</span>, length {length}, {start}–{end}).').format(id=r.id, name=e(r.remarks or _("prefix {prefix}").format(prefix=r.prefix)), prefix=e(r.prefix), length=r.length or _("any"), start=time_of_day(r.start), end=time_of_day(r.end))}}</p>
  <p id="test-type">{{_("Call type: {type}.").format(type=type_label(r.call_type))}}</p>
  <p>{{!_('A call of {seconds} s started {time} costs <strong class="cost" id="test-cost">{cost}</strong>.').format(seconds=result['duration'], time=result['local'].strftime('%Y-%m-%d %H:%M'), cost=e(fmt(result['cost'])))}}</p>
  % else:
  <p id="test-none">{{_("No rate matches this call at {time}.").format(time=result['local'].strftime('%Y-%m-%d %H:%M'))}}
     {{_("Policy for unrated calls:")}} <strong>{{_("allowed, not billed") if result['policy'] == 'allow' else _("denied")}}</strong>.</p>
  % end
  % if not result['known']:
  <p class="hint">{{_("Note: there is no extension {number} yet.").format(number=form['extension'])}}</p>
  % end
</div>
% end
